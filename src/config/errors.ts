/**
 * The error every config problem becomes, so callers catch one class and print one message.
 *
 * @module
 */

/** One problem found in a config document, located by its dotted path. */
export interface ConfigProblem {
  /** Dotted path such as `services.web.assumed_role.RoleArn`, or "" for the whole document. */
  path: string;
  /** Description of the problem and the expected value. Never contains the offending value. */
  message: string;
}

/**
 * A configuration that cannot be used: unreadable, unparsable or invalid.
 *
 * Lists every problem found, not only the first, so one edit can fix them all.
 */
export class ConfigError extends Error {
  /** File path, or a label such as `environment`, that the problems were found in. */
  readonly source: string;
  /** Every problem found. */
  readonly problems: readonly ConfigProblem[];

  constructor(source: string, problems: readonly ConfigProblem[], options?: ErrorOptions) {
    super(formatProblems(source, problems), options);
    this.name = "ConfigError";
    this.source = source;
    this.problems = problems;
  }
}

function formatProblems(source: string, problems: readonly ConfigProblem[]): string {
  const lines = problems.map((problem) =>
    problem.path ? `  ${problem.path}: ${problem.message}` : `  ${problem.message}`
  );
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return `Cannot load config "${source}" (${count}):\n${lines.join("\n")}`;
}
