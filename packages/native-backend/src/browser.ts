// The browser entry of @medfm/native-backend (its `browser` export condition): only the op
// declarations @medfm/models checks kernels against; provisioning and the CLI need Node.
export { MEDFM_OPS, type MedfmOpDeclaration } from "./medfm-ops";
