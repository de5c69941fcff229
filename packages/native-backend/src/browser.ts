// The browser entry of @medfm/native-backend (its `browser` export condition): only the op
// declarations @medfm/models checks kernels against; provisioning and the CLI need Node.
export {
  MEDFM_OPS,
  MEDFM_OPS_BEFORE_SIGNATURES,
  type MedfmOpDeclaration,
  medfmOpSignature,
} from "./medfm-ops";
