// errors.ts: the two failure kinds the CLI maps to exit codes: 2 for usage/config, 1 for runtime.

/** Bad flags or config: nothing was applied. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string, readonly details: readonly string[] = []) {
    super(details.length ? `${message}\n  ${details.join('\n  ')}` : message);
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
