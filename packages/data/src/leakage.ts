import type { Sample } from "./types";

/** A named list of samples (a train, val or test file) to check for leakage. */
export interface NamedSampleList {
  /** Label in the report, e.g. the file name. */
  name: string;
  /** The list's samples. */
  samples: readonly Sample[];
}

/** Options of {@link checkLeakage}. */
export interface CheckLeakageOptions {
  /** Derives a group (patient, study) from a name when a sample carries none (e.g. `task.groupKey`). */
  groupKey?: (name: string) => string;
  /** Examples kept per finding (default 5). */
  maxExamples?: number;
}

/** Names repeated within one list. */
export interface DuplicateFinding {
  /** The list. */
  list: string;
  /** Lines that repeat a name seen earlier in the list. */
  count: number;
  /** Distinct names that occur more than once. */
  names: number;
  /** Of those, names whose occurrences carry different labels. */
  conflicting: number;
  /** A few repeated names with the (1-based) lines or positions they occur on. */
  examples: Array<{ name: string; lines: number[] }>;
}

/** Names shared by two lists. */
export interface OverlapFinding {
  /** The two lists. */
  lists: [string, string];
  /** Distinct names in both. */
  count: number;
  /** Share of the first list's distinct names that are also in the second. */
  fractionOfFirst: number;
  /** A few shared names. */
  examples: string[];
}

/** Groups (patients, studies) with samples in two lists. */
export interface GroupOverlapFinding {
  /** The two lists. */
  lists: [string, string];
  /** Distinct groups in both. */
  count: number;
  /** Samples of the first list whose group is also in the second. */
  samplesInFirst: number;
  /** Samples of the second list whose group is also in the first. */
  samplesInSecond: number;
  /** A few shared groups with one name from each list. */
  examples: Array<{ group: string; first: string; second: string }>;
}

/** What {@link checkLeakage} found. Empty arrays mean no finding of that kind. */
export interface LeakageReport {
  /** Lists with repeated names. */
  duplicates: DuplicateFinding[];
  /** Pairs of lists sharing names. */
  overlap: OverlapFinding[];
  /** Pairs of lists sharing groups (only when samples have groups). */
  groupOverlap: GroupOverlapFinding[];
  /** Whether groups were known for every sample (otherwise group overlap was not checked for those). */
  groupsChecked: boolean;
  /** True when nothing was found. */
  clean: boolean;
}

function labelsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/**
 * Reports duplicates within each list, names shared between every pair of lists, and groups
 * (patient or study) shared between them: the leakage that inflates few-shot results.
 */
export function checkLeakage(
  lists: readonly NamedSampleList[],
  options: CheckLeakageOptions = {},
): LeakageReport {
  const maxExamples = options.maxExamples ?? 5;
  const duplicates: DuplicateFinding[] = [];
  const nameSets: Array<Set<string>> = [];
  const groupMaps: Array<Map<string, string[]>> = [];
  let groupsChecked = lists.length > 0;
  for (const list of lists) {
    const occurrences = new Map<string, number[]>();
    const firstLabels = new Map<string, Uint8Array>();
    const conflicting = new Set<string>();
    const groups = new Map<string, string[]>();
    list.samples.forEach((sample, index) => {
      const line = sample.line ?? index + 1;
      const seen = occurrences.get(sample.name);
      if (seen) {
        seen.push(line);
        if (!labelsEqual(firstLabels.get(sample.name)!, sample.labels))
          conflicting.add(sample.name);
      } else {
        occurrences.set(sample.name, [line]);
        firstLabels.set(sample.name, sample.labels);
      }
      const group = sample.group ?? options.groupKey?.(sample.name);
      if (group === undefined) {
        groupsChecked = false;
        return;
      }
      const members = groups.get(group);
      if (members) members.push(sample.name);
      else groups.set(group, [sample.name]);
    });
    const repeated = [...occurrences].filter(([, lines]) => lines.length > 1);
    if (repeated.length > 0) {
      duplicates.push({
        list: list.name,
        count: repeated.reduce((sum, [, lines]) => sum + lines.length - 1, 0),
        names: repeated.length,
        conflicting: conflicting.size,
        examples: repeated.slice(0, maxExamples).map(([name, lines]) => ({ name, lines })),
      });
    }
    nameSets.push(new Set(occurrences.keys()));
    groupMaps.push(groups);
  }
  const overlap: OverlapFinding[] = [];
  const groupOverlap: GroupOverlapFinding[] = [];
  for (let i = 0; i < lists.length; i += 1) {
    for (let j = i + 1; j < lists.length; j += 1) {
      const shared = [...nameSets[i]].filter((name) => nameSets[j].has(name));
      if (shared.length > 0) {
        overlap.push({
          lists: [lists[i].name, lists[j].name],
          count: shared.length,
          fractionOfFirst: shared.length / nameSets[i].size,
          examples: shared.slice(0, maxExamples),
        });
      }
      const sharedGroups = [...groupMaps[i].keys()].filter((group) => groupMaps[j].has(group));
      if (sharedGroups.length > 0) {
        groupOverlap.push({
          lists: [lists[i].name, lists[j].name],
          count: sharedGroups.length,
          samplesInFirst: sharedGroups.reduce(
            (sum, group) => sum + groupMaps[i].get(group)!.length,
            0,
          ),
          samplesInSecond: sharedGroups.reduce(
            (sum, group) => sum + groupMaps[j].get(group)!.length,
            0,
          ),
          examples: sharedGroups.slice(0, maxExamples).map((group) => ({
            group,
            first: groupMaps[i].get(group)![0],
            second: groupMaps[j].get(group)![0],
          })),
        });
      }
    }
  }
  return {
    duplicates,
    overlap,
    groupOverlap,
    groupsChecked,
    clean: duplicates.length === 0 && overlap.length === 0 && groupOverlap.length === 0,
  };
}

/** Renders a leakage report as readable lines (one finding per line, examples indented). */
export function formatLeakageReport(report: LeakageReport): string {
  const lines: string[] = [];
  for (const finding of report.duplicates) {
    lines.push(
      `duplicates in ${finding.list}: ${finding.count} repeated lines (${finding.names} names, ${finding.conflicting} with conflicting labels)`,
    );
    for (const example of finding.examples)
      lines.push(`  ${example.name} on lines ${example.lines.join(", ")}`);
  }
  for (const finding of report.overlap) {
    lines.push(
      `overlap ${finding.lists[0]} / ${finding.lists[1]}: ${finding.count} names (${(100 * finding.fractionOfFirst).toFixed(1)}% of ${finding.lists[0]})`,
    );
    for (const name of finding.examples) lines.push(`  ${name}`);
  }
  for (const finding of report.groupOverlap) {
    lines.push(
      `group overlap ${finding.lists[0]} / ${finding.lists[1]}: ${finding.count} groups (${finding.samplesInFirst} and ${finding.samplesInSecond} samples)`,
    );
    for (const example of finding.examples) {
      lines.push(`  ${example.group}: ${example.first} / ${example.second}`);
    }
  }
  if (!report.groupsChecked)
    lines.push("groups unknown for some samples: group overlap not fully checked");
  if (report.clean) lines.push("no duplicates, no overlap");
  return `${lines.join("\n")}\n`;
}
