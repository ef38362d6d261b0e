import { quoteUntrusted } from './untrusted-text.ts';

/**
 * The YAML that PKCS#11 key files and ocicrypt.conf are written in: block
 * mappings and sequences (including a sequence at its key's indentation),
 * one-line flow collections, plain, single- and double-quoted scalars,
 * comments, a leading `---`. Scalars stay strings (`~`, `null` and nothing
 * are null); a file needs no more, and a full YAML library would be the
 * largest thing this scheme loads. Anchors, tags, block scalars and
 * multi-line scalars are refused rather than misread.
 */
export type YamlValue = string | null | YamlValue[] | YamlMapping;
export type YamlMapping = Map<string, YamlValue>;

export class YamlError extends Error {}

const MAX_DEPTH = 64;
const NULLS = new Set(['~', 'null', 'Null', 'NULL']);
const UNSUPPORTED_START = /^[&*!|>%@`]/;

interface Line {
  number: number;
  indent: number;
  text: string;
}

export function parseYaml(source: string): YamlValue {
  const lines = significantLines(source);
  const reader = new BlockReader(lines);
  if (lines.length === 0) return null;
  const value = reader.block(lines[0]!.indent, 0);
  const left = reader.peek();
  if (left !== undefined) throw lineError(left, 'unexpected indentation or content');
  return value;
}

export function isMapping(value: YamlValue | undefined): value is YamlMapping {
  return value instanceof Map;
}

function significantLines(source: string): Line[] {
  const lines: Line[] = [];
  const raw = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [index, full] of raw.entries()) {
    const number = index + 1;
    const indent = full.length - full.replace(/^ +/, '').length;
    const text = full.slice(indent).trimEnd();
    const bare = text.trimStart();
    if (bare === '' || bare.startsWith('#')) continue;
    if (bare !== text) throw new YamlError(`line ${number}: tabs cannot indent YAML`);
    if (indent === 0 && /^---(?:\s+#.*)?$/.test(text)) {
      if (lines.length > 0) throw new YamlError(`line ${number}: only one YAML document is supported`);
      continue;
    }
    if (indent === 0 && text === '...') break;
    if (indent === 0 && text.startsWith('%')) throw new YamlError(`line ${number}: YAML directives are not supported`);
    lines.push({ number, indent, text });
  }
  return lines;
}

function lineError(line: Line, message: string): YamlError {
  return new YamlError(`line ${line.number}: ${message}`);
}

const isSequenceItem = (text: string) => text === '-' || text.startsWith('- ');

class BlockReader {
  private position = 0;
  private readonly lines: Line[];

  constructor(lines: Line[]) {
    this.lines = lines;
  }

  peek(): Line | undefined {
    return this.lines[this.position];
  }

  /** The node whose first line is the next one, at `indent`. */
  block(indent: number, depth: number): YamlValue {
    const line = this.peek();
    if (line === undefined || line.indent < indent) return null;
    if (depth > MAX_DEPTH) throw lineError(line, 'nested too deeply');
    if (isSequenceItem(line.text)) return this.sequence(line.indent, depth);
    if (splitKey(line) !== null) return this.mapping(line.indent, depth);
    this.position++;
    const value = inlineValue(line.text, line);
    this.refuseContinuation(line.indent, line);
    return value;
  }

  private sequence(indent: number, depth: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = this.peek(); line !== undefined && line.indent === indent && isSequenceItem(line.text); line = this.peek()) {
      const afterDash = line.text.slice(1);
      const content = afterDash.trimStart();
      if (content === '' || content.startsWith('#')) {
        this.position++;
        items.push(this.block(indent + 1, depth + 1));
      } else {
        // "- value" starts a node one column past the dash and its spaces: read it in place.
        line.indent = indent + 1 + afterDash.length - content.length;
        line.text = content;
        items.push(this.block(line.indent, depth + 1));
      }
    }
    return items;
  }

  private mapping(indent: number, depth: number): YamlMapping {
    const mapping: YamlMapping = new Map();
    for (let line = this.peek(); line !== undefined && line.indent === indent && !isSequenceItem(line.text); line = this.peek()) {
      const entry = splitKey(line);
      if (entry === null) throw lineError(line, 'expected "key: value"');
      if (mapping.has(entry.key)) throw lineError(line, `duplicate key ${quoteUntrusted(entry.key)}`);
      this.position++;
      let value: YamlValue;
      if (entry.rest !== '' && !entry.rest.startsWith('#')) {
        value = inlineValue(entry.rest, line);
        this.refuseContinuation(indent, line);
      } else {
        const next = this.peek();
        if (next !== undefined && next.indent > indent) value = this.block(indent + 1, depth + 1);
        else if (next !== undefined && next.indent === indent && isSequenceItem(next.text)) value = this.sequence(indent, depth + 1);
        else value = null;
      }
      mapping.set(entry.key, value);
    }
    return mapping;
  }

  private refuseContinuation(indent: number, line: Line): void {
    const next = this.peek();
    if (next !== undefined && next.indent > indent) throw lineError(line, 'multi-line values are not supported');
  }
}

/** "key: rest" (rest may be empty); null when the line is no mapping entry. */
function splitKey(line: Line): { key: string; rest: string } | null {
  const text = line.text;
  if (text.startsWith('"') || text.startsWith("'")) {
    const quoted = quotedScalar(text, 0, line);
    const after = text.slice(quoted.end);
    const match = /^\s*:(?:\s+|$)/.exec(after);
    return match === null ? null : { key: quoted.value, rest: after.slice(match[0].length).trim() };
  }
  if (text.startsWith('[') || text.startsWith('{')) return null;
  const match = /:(?:\s+|$)/.exec(text);
  if (match === null || /\s#/.test(text.slice(0, match.index))) return null;
  return { key: text.slice(0, match.index).trimEnd(), rest: text.slice(match.index + match[0].length).trim() };
}

function inlineValue(text: string, line: Line): YamlValue {
  if (UNSUPPORTED_START.test(text)) throw lineError(line, 'anchors, aliases, tags and block scalars are not supported');
  if (text.startsWith('"') || text.startsWith("'")) {
    const quoted = quotedScalar(text, 0, line);
    refuseTrailing(text.slice(quoted.end), line);
    return quoted.value;
  }
  if (text.startsWith('[') || text.startsWith('{')) {
    const flow = new FlowReader(text, line);
    const value = flow.value(0);
    refuseTrailing(text.slice(flow.position), line);
    return value;
  }
  return plainScalar(text.replace(/\s+#.*$/, '').trimEnd());
}

function refuseTrailing(rest: string, line: Line): void {
  const trimmed = rest.trim();
  if (trimmed !== '' && !trimmed.startsWith('#')) throw lineError(line, 'unexpected text after a value');
}

function plainScalar(text: string): string | null {
  return text === '' || NULLS.has(text) ? null : text;
}

const DOUBLE_QUOTED_ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029',
};
const HEX_ESCAPE_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };

/** A quoted scalar starting at `start`; it must close on the same line. */
function quotedScalar(text: string, start: number, line: Line): { value: string; end: number } {
  const quote = text[start];
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c !== "'") value += c;
      else if (text[i + 1] === "'") value += text[++i];
      else return { value, end: i + 1 };
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else if (c !== '\\') {
      value += c;
    } else {
      const escape = text[++i] ?? '';
      const hexLength = HEX_ESCAPE_LENGTH[escape];
      if (hexLength !== undefined) {
        const hex = text.slice(i + 1, i + 1 + hexLength);
        if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) throw lineError(line, `bad \\${escape} escape`);
        value += String.fromCodePoint(parseInt(hex, 16));
        i += hexLength;
      } else if (Object.hasOwn(DOUBLE_QUOTED_ESCAPES, escape)) {
        value += DOUBLE_QUOTED_ESCAPES[escape];
      } else {
        throw lineError(line, `unknown escape \\${escape}`);
      }
    }
  }
  throw lineError(line, 'unterminated quoted value (multi-line values are not supported)');
}

/** `[a, b]` and `{k: v}` on one line, nested as deep as MAX_DEPTH. */
class FlowReader {
  position = 0;
  private readonly text: string;
  private readonly line: Line;

  constructor(text: string, line: Line) {
    this.text = text;
    this.line = line;
  }

  value(depth: number): YamlValue {
    if (depth > MAX_DEPTH) throw lineError(this.line, 'nested too deeply');
    this.skipSpaces();
    const c = this.text[this.position];
    if (c === '[') {
      const items: YamlValue[] = [];
      this.collection(']', () => items.push(this.value(depth + 1)));
      return items;
    }
    if (c === '{') {
      const mapping: YamlMapping = new Map();
      this.collection('}', () => {
        const key = this.value(depth + 1);
        if (typeof key !== 'string') throw lineError(this.line, 'flow mapping keys must be scalars');
        this.skipSpaces();
        let value: YamlValue = null;
        if (this.text[this.position] === ':') {
          this.position++;
          value = this.value(depth + 1);
        }
        if (mapping.has(key)) throw lineError(this.line, `duplicate key ${quoteUntrusted(key)}`);
        mapping.set(key, value);
      });
      return mapping;
    }
    if (c === '"' || c === "'") {
      const quoted = quotedScalar(this.text, this.position, this.line);
      this.position = quoted.end;
      return quoted.value;
    }
    if (c !== undefined && UNSUPPORTED_START.test(c)) throw lineError(this.line, 'anchors, aliases and tags are not supported');
    const match = /^(?:[^,[\]{}:#]|:(?![\s,\]}])|(?<!\s)#)*/.exec(this.text.slice(this.position))!;
    this.position += match[0].length;
    return plainScalar(match[0].trim());
  }

  /** Reads the entries of a collection opened at the current position, up to `close`. */
  private collection(close: string, entry: () => void): void {
    this.position++;
    for (;;) {
      this.skipSpaces();
      if (this.text[this.position] === close) break;
      entry();
      this.skipSpaces();
      const c = this.text[this.position];
      if (c === ',') this.position++;
      else if (c !== close) throw lineError(this.line, `expected "," or "${close}" in a flow collection`);
    }
    this.position++;
  }

  private skipSpaces(): void {
    while (this.text[this.position] === ' ' || this.text[this.position] === '\t') this.position++;
  }
}
