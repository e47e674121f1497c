// SPDX-License-Identifier: Apache-2.0
// errors.ts: the two failure kinds the CLI maps to exit codes: 2 for usage/config, 1 for runtime.

/**
 * A usage error lists this many problems, then how many more: every problem of a 20,000-service file made a 2 MB
 * message (and API reply) that nobody reads past the first screen.
 */
export const PROBLEMS_LISTED = 20;
/** A problem line is cut here (a value quoted in it can be a megabyte-long string). */
export const PROBLEM_CHARS = 500;

/**
 * The problems as listed. A list already capped (PROBLEMS_LISTED lines and the count) passes unchanged, so an error
 * re-thrown with its details (a file's name put in front) keeps the true count.
 */
function capped(details: readonly string[]): readonly string[] {
  // One line per problem, whatever a quoted key or value held (a YAML key may span lines).
  const flat = details.some((l) => l.includes('\n')) ? details.map((l) => l.replace(/\r?\n/g, '\\n')) : details;
  const lines = flat.length > PROBLEMS_LISTED + 1 ? [...flat.slice(0, PROBLEMS_LISTED), `… and ${flat.length - PROBLEMS_LISTED} more`] : flat;
  return lines.some((l) => l.length > PROBLEM_CHARS) ? lines.map((l) => (l.length > PROBLEM_CHARS ? `${l.slice(0, PROBLEM_CHARS)}…` : l)) : lines;
}

/** Bad flags or config: nothing was applied. */
export class UsageError extends Error {
  readonly exitCode = 2;
  readonly details: readonly string[];
  constructor(message: string, details: readonly string[] = []) {
    const listed = capped(details);
    super(listed.length ? `${message}\n  ${listed.join('\n  ')}` : message);
    this.details = listed;
    this.name = 'UsageError';
  }
}

/** The system refused something at run time (no BPF, interface vanished, not root). */
export class RuntimeError extends Error {
  readonly exitCode = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}
