import { isUtf8 } from "node:buffer";

/*
 * The alternative measured against the gateway's JSON check (and not adopted): whether bytes are
 * one JSON text (RFC 8259) in valid UTF-8, without decoding them to a string or building the value —
 * one pass over the bytes and a stack of open brackets. It accepts exactly what
 * `JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes))` accepts.
 * About as fast for small objects, twice as fast on non-ASCII text, four times slower on long ASCII
 * strings (V8's JSON.parse scans those natively): no overall win.
 */

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const OPEN_SQUARE = 91;
const BACKSLASH = 92;
const CLOSE_SQUARE = 93;
const OPEN_CURLY = 123;
const CLOSE_CURLY = 125;

const ESCAPES = new Uint8Array(128);
for (const c of '"\\/bfnrt') ESCAPES[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(128);
for (const c of "0123456789abcdefABCDEF") HEX[c.charCodeAt(0)] = 1;
const TRUE = Buffer.from("true");
const FALSE = Buffer.from("false");
const NULL = Buffer.from("null");

export function isJsonText(bytes: Uint8Array): boolean {
  if (bytes.byteLength === 0 || !isUtf8(bytes)) return false;
  // Open containers: true for an object (a key comes next after `,`), false for an array.
  const open: boolean[] = [];
  let i = skipSpace(bytes, 0);
  for (;;) {
    // a value starts at i
    const c = bytes[i];
    if (c === OPEN_CURLY || c === OPEN_SQUARE) {
      const isObject = c === OPEN_CURLY;
      i = skipSpace(bytes, i + 1);
      if (bytes[i] === (isObject ? CLOSE_CURLY : CLOSE_SQUARE)) {
        i++;
      } else {
        open.push(isObject);
        if (isObject) {
          i = key(bytes, i);
          if (i < 0) return false;
        }
        continue;
      }
    } else if (c === QUOTE) {
      i = string(bytes, i);
    } else if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) {
      i = number(bytes, i);
    } else if (c === 116) {
      i = literal(bytes, i, TRUE);
    } else if (c === 102) {
      i = literal(bytes, i, FALSE);
    } else if (c === 110) {
      i = literal(bytes, i, NULL);
    } else {
      return false;
    }
    if (i < 0) return false;
    // after a value: close containers, or a comma and the next value (or key)
    for (;;) {
      i = skipSpace(bytes, i);
      if (open.length === 0) return i === bytes.byteLength;
      const isObject = open[open.length - 1]!;
      const d = bytes[i];
      if (d === COMMA) {
        i = skipSpace(bytes, i + 1);
        if (isObject) {
          i = key(bytes, i);
          if (i < 0) return false;
        }
        break;
      }
      if (d !== (isObject ? CLOSE_CURLY : CLOSE_SQUARE)) return false;
      open.pop();
      i++;
    }
  }
}

function skipSpace(bytes: Uint8Array, i: number): number {
  for (let c = bytes[i]; c === SPACE || c === LF || c === CR || c === TAB; c = bytes[++i]);
  return i;
}

/** A key and its colon at i: the index of the value after them, or -1. */
function key(bytes: Uint8Array, i: number): number {
  if (bytes[i] !== QUOTE) return -1;
  i = string(bytes, i);
  if (i < 0) return -1;
  i = skipSpace(bytes, i);
  if (bytes[i] !== COLON) return -1;
  return skipSpace(bytes, i + 1);
}

/** A string at i (on its quote): the index after it, or -1. Bytes above 127 are valid UTF-8 already. */
function string(bytes: Uint8Array, i: number): number {
  for (i++; ; i++) {
    const c = bytes[i];
    if (c === undefined || c < SPACE) return -1;
    if (c === QUOTE) return i + 1;
    if (c !== BACKSLASH) continue;
    const e = bytes[++i];
    if (e === 117) {
      for (let k = 1; k <= 4; k++) if (HEX[bytes[i + k] ?? 0] !== 1) return -1;
      i += 4;
    } else if (e === undefined || ESCAPES[e] !== 1) {
      return -1;
    }
  }
}

/** A number at i: the index after it, or -1. */
function number(bytes: Uint8Array, i: number): number {
  if (bytes[i] === MINUS) i++;
  if (bytes[i] === ZERO) i++;
  else if (!isDigit(bytes[i])) return -1;
  else while (isDigit(bytes[i])) i++;
  if (bytes[i] === DOT) {
    if (!isDigit(bytes[++i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  if (bytes[i] === 101 || bytes[i] === 69) {
    i++;
    if (bytes[i] === PLUS || bytes[i] === MINUS) i++;
    if (!isDigit(bytes[i])) return -1;
    while (isDigit(bytes[i])) i++;
  }
  return i;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function literal(bytes: Uint8Array, i: number, word: Buffer): number {
  for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word[k]) return -1;
  return i + word.length;
}
