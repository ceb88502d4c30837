import { NavigatorError } from '../core/errors';

/**
 * Protocol-buffer text format (what Triton's config.pbtxt is written in): a writer for the configs
 * this package builds, and a reader that the validator checks the written text with.
 */

/** An enum value, written bare (KIND_CPU), not quoted. */
export interface EnumValue {
  enumValue: string;
}
export type PbValue = string | number | boolean | EnumValue | PbMessage | PbValue[];
export interface PbMessage {
  [field: string]: PbValue | undefined;
}

export function enumValue(name: string): EnumValue {
  return { enumValue: name };
}

/** The message as text, two-space indented; a list writes its field once per element. */
export function toPbtxt(message: PbMessage, indent = ''): string {
  const lines: string[] = [];
  for (const [field, value] of Object.entries(message)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) lines.push(fieldText(field, item, indent));
  }
  return lines.join('\n');
}

function fieldText(field: string, value: PbValue, indent: string): string {
  if (typeof value === 'object' && !Array.isArray(value) && !('enumValue' in value)) {
    const body = toPbtxt(value as PbMessage, `${indent}  `);
    return body ? `${indent}${field} {\n${body}\n${indent}}` : `${indent}${field} {}`;
  }
  return `${indent}${field}: ${scalarText(value)}`;
}

function scalarText(value: PbValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (!Array.isArray(value) && 'enumValue' in value) return String(value.enumValue);
  throw new NavigatorError('a nested list cannot be written as text format', { subject: JSON.stringify(value).slice(0, 60) });
}

/** A value read back: where it was (line) and what it was written as. */
export type ParsedValue =
  | { kind: 'string'; value: string; line: number }
  | { kind: 'number'; text: string; line: number }
  | { kind: 'identifier'; value: string; line: number }
  | { kind: 'message'; fields: ParsedMessage; line: number };
/** Every field's occurrences, in order (a list `[a, b]` adds one per element). */
export type ParsedMessage = Map<string, ParsedValue[]>;

interface Token {
  type: 'name' | 'string' | 'number' | 'punct';
  text: string;
  line: number;
}

/** Reads text format; throws a NavigatorError naming the line on a syntax error. */
export function parsePbtxt(text: string, subject = 'config.pbtxt'): ParsedMessage {
  const tokens = tokenize(text, subject);
  let pos = 0;
  const fail = (message: string, token = tokens[pos]): never => {
    throw new NavigatorError(`${message} at line ${token?.line ?? 'end'}`, { subject });
  };
  const next = () => tokens[pos++] ?? fail('unexpected end of text');
  const peek = (text: string) => tokens[pos]?.type === 'punct' && tokens[pos].text === text;

  const message = (closing: string | undefined): ParsedMessage => {
    const fields: ParsedMessage = new Map();
    while (pos < tokens.length && !(closing && peek(closing))) {
      const name = next();
      if (name.type !== 'name') fail(`expected a field name, found ${name.text}`, name);
      const colon = peek(':');
      if (colon) pos++;
      const values: ParsedValue[] = [];
      if (peek('[')) {
        pos++;
        while (!peek(']')) {
          values.push(value(colon));
          if (peek(',')) pos++;
          else if (!peek(']')) fail('expected , or ]');
        }
        pos++;
      } else {
        values.push(value(colon));
      }
      fields.set(name.text, [...(fields.get(name.text) ?? []), ...values]);
      if (peek(',') || peek(';')) pos++;
    }
    if (closing) {
      if (!peek(closing)) fail(`expected ${closing}`);
      pos++;
    }
    return fields;
  };

  const value = (afterColon: boolean): ParsedValue => {
    const token = next();
    if (token.type === 'punct' && (token.text === '{' || token.text === '<')) return { kind: 'message', fields: message(token.text === '{' ? '}' : '>'), line: token.line };
    if (!afterColon) fail(`expected { after a message field name, found ${token.text}`, token);
    if (token.type === 'string') {
      let value = token.text;
      while (tokens[pos]?.type === 'string') value += next().text; // adjacent strings concatenate
      return { kind: 'string', value, line: token.line };
    }
    if (token.type === 'number') return { kind: 'number', text: token.text, line: token.line };
    if (token.type === 'name') return { kind: 'identifier', value: token.text, line: token.line };
    return fail(`unexpected ${token.text}`, token);
  };

  return message(undefined);
}

function tokenize(text: string, subject: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s+|#[^\n]*|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(-?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)[fF]?|-?inf|-?nan)|([A-Za-z_][\w.]*)|([{}[\]<>:,;])/y;
  let line = 1;
  while (pattern.lastIndex < text.length) {
    const start = pattern.lastIndex;
    const match = pattern.exec(text);
    if (!match) throw new NavigatorError(`cannot read ${JSON.stringify(text.slice(start, start + 20))} at line ${line}`, { subject });
    const [whole, string, number, name, punct] = match;
    if (string) tokens.push({ type: 'string', text: unquote(string), line });
    else if (number) tokens.push({ type: 'number', text: number, line });
    else if (name) tokens.push({ type: 'name', text: name, line });
    else if (punct) tokens.push({ type: 'punct', text: punct, line });
    line += whole.split('\n').length - 1;
  }
  return tokens;
}

function unquote(literal: string): string {
  const body = literal.slice(1, -1);
  return body.replace(/\\(["'\\nrt])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c as 'n'] ?? c);
}
