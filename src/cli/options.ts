// options.ts: flag parsers shared by commands; each throws a UsageError naming the flag and the value.

import { readConfigFile } from '../adapters/configfile';
import { UsageError } from '../core/errors';

/** The CLI's name for it; the daemon reads the same way. */
export const loadConfigFile = readConfigFile;

/** status and friends accept either the config or the interface it names. */
export function interfaceFrom(opts: { config?: string; interface?: string }): string {
  if (opts.config && opts.interface) throw new UsageError('give --config or --interface, not both');
  if (opts.interface) {
    if (!/^[^\s/:]{1,15}$/.test(opts.interface)) throw new UsageError(`--interface ${JSON.stringify(opts.interface)}: not an interface name`);
    return opts.interface;
  }
  if (opts.config) return loadConfigFile(opts.config).interface;
  throw new UsageError('give --config FILE or --interface NAME');
}
