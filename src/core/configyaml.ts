// SPDX-License-Identifier: Apache-2.0
// configyaml.ts: a config file's YAML to a plain mapping, refusing what would hurt the reader (size, depth, alias bombs) with the place named.

import { Composer, type CST, type Document, LineCounter, Parser, visit, YAMLParseError } from 'yaml';
import { UsageError } from './errors';
import { MAX_CONFIG_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH } from './limits';

/**
 * The first CST node (its offset) nested more than `limit` collections deep; walked with a list, not recursion.
 * yaml's parser builds the CST without recursion, but composing it recurses per level: a few thousand "[" overflow the
 * stack, and V8 aborts the whole process (a fatal "RegExpCompiler Allocation failed") when that happens to compile a
 * regular expression, so the second such file read by a daemon killed it.
 */
function tooDeep(token: CST.Token, limit: number): number | undefined {
  const todo: [CST.Token, number][] = [[token, 0]];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [t, depth] = next;
    if (t.type === 'document' && t.value) todo.push([t.value, depth]);
    else if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') {
      if (depth >= limit) return t.offset;
      for (const it of t.items as CST.CollectionItem[]) {
        if (it.key) todo.push([it.key, depth + 1]);
        if (it.value) todo.push([it.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/** yaml's parseDocument(text, { uniqueKeys: true }), but refusing a document nested past MAX_YAML_DEPTH before it is composed. */
function parseYaml(text: string, source: string): Document.Parsed {
  const lines = new LineCounter();
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `at line ${line}, column ${col}`;
  };
  function* checked(tokens: Iterable<CST.Token>): Generator<CST.Token> {
    for (const t of tokens) {
      const deep = tooDeep(t, MAX_YAML_DEPTH);
      if (deep !== undefined) throw new UsageError(`${source}: not valid YAML`, [`collections nested more than ${MAX_YAML_DEPTH} deep ${at(deep)}`]);
      yield t;
    }
  }
  let doc: Document.Parsed | undefined;
  for (const d of new Composer({ uniqueKeys: true }).compose(checked(new Parser(lines.addNewLine).parse(text)), true, text.length)) {
    if (doc) {
      doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
      break;
    }
    doc = d;
  }
  // Where first: yaml quotes the offending source in its message, which can run past the length a problem line keeps.
  for (const e of doc!.errors) {
    // One line per problem: yaml's messages may carry line breaks (and a quoted excerpt) of their own.
    const msg = e.message.replace(/\s*\n\s*/g, ' ');
    if (e.pos[0] === -1) {
      e.message = msg;
      continue;
    }
    const { line, col } = lines.linePos(e.pos[0]);
    e.message = `line ${line}, column ${col}: ${msg}`;
  }
  return doc!;
}

/** The YAML text's one document as a plain mapping, not yet validated (config.ts's parseConfig validates it). */
export function readYamlMapping(text: string, source: string): object {
  // Checked again here for text that did not come from readConfigFile (stdin); a file is refused before it is read.
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES)
    throw new UsageError(`${source}: ${bytes} bytes, more than the limit of ${MAX_CONFIG_BYTES} bytes (${MAX_CONFIG_BYTES >> 20} MiB)`);
  const doc = parseYaml(text, source);
  if (doc.errors.length) {
    throw new UsageError(
      `${source}: not valid YAML`,
      doc.errors.map((e) => e.message.split('\n')[0]!),
    );
  }
  let aliases = 0;
  visit(doc, { Alias: () => (++aliases > MAX_YAML_ALIASES ? visit.BREAK : undefined) });
  if (aliases > MAX_YAML_ALIASES)
    throw new UsageError(`${source}: more than ${MAX_YAML_ALIASES} YAML aliases (*name); write the values out or share fewer anchors`);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // yaml throws a ReferenceError for an expansion past maxAliasCount (an alias bomb) or an alias with no anchor.
    if (e instanceof ReferenceError && /alias count/.test(e.message))
      throw new UsageError(`${source}: YAML aliases expand to more than ${MAX_YAML_ALIASES} copies of an anchor (an alias bomb?)`);
    if (e instanceof ReferenceError) throw new UsageError(`${source}: not valid YAML`, [e.message]);
    throw e;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${source}: expected a mapping with "interface" and "services"`);
  }
  return data;
}
