/**
 * Measuring and writing a property section (spec 2.2.2), driven by the property table.
 * `measureProperties` validates everything; `writeProperties` trusts what it measured.
 */
import { MqttProtocolError, malformed, protocolError } from './errors.js';
import { PACKET_NAMES, type Properties, type UserProperty } from './packets.js';
import { PROPERTY_BY_NAME, WILL_PROPERTIES, type PropertyDefinition } from './properties.js';
import { utf8Length, writeUtf8, MAX_STRING_BYTES } from './strings.js';
import { MAX_VARINT, isBinary, isIntIn, varintSize, writeVarint } from './wire.js';

function contextName(context: number): string {
  return context === WILL_PROPERTIES ? 'will properties' : PACKET_NAMES[context]!;
}

/** Validates one number-valued property against its wire type; returns its encoded size with the identifier. */
function measureNumber(def: PropertyDefinition, v: unknown): number {
  const min = def.nonZero ? 1 : 0;
  switch (def.type) {
    case 'byte':
      // Maximum QoS, the only plain byte property, is 0 or 1 (3.2.2.3.4).
      if (v !== 0 && v !== 1) throw protocolError(`${def.name} must be 0 or 1`);
      return 2;
    case 'u16':
      if (!isIntIn(v, 0, 0xffff)) throw malformed(`${def.name} must be an integer 0..65535`);
      if (v < min) throw new MqttProtocolError(def.zeroReasonCode, `${def.name} must not be 0`);
      return 3;
    case 'u32':
      if (!isIntIn(v, 0, 0xffff_ffff)) throw malformed(`${def.name} must be an integer 0..4294967295`);
      if (v < min) throw new MqttProtocolError(def.zeroReasonCode, `${def.name} must not be 0`);
      return 5;
    default: // 'varint'
      if (!isIntIn(v, 0, MAX_VARINT)) throw malformed(`${def.name} must be an integer 0..${MAX_VARINT}`);
      if (v < min) throw new MqttProtocolError(def.zeroReasonCode, `${def.name} must not be 0`);
      return 1 + varintSize(v);
  }
}

function measureUserProperties(list: unknown): number {
  if (!Array.isArray(list)) throw malformed('userProperties must be an array of [name, value] pairs');
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const pair = list[i] as UserProperty;
    if (!Array.isArray(pair) || pair.length !== 2) throw malformed('a user property must be a [name, value] pair');
    n += 5 + utf8Length(pair[0], 'user property name') + utf8Length(pair[1], 'user property value');
  }
  return n;
}

/**
 * Validates `props` for packet type `context` (or {@link WILL_PROPERTIES}) and returns the length of the
 * property bytes, without the Property Length prefix. Undefined values are skipped. Throws
 * MqttProtocolError: 0x81 for an unknown property, one not allowed in `context`, or a value its wire type
 * cannot carry; 0x82 for a value the spec calls a Protocol Error (0 where it must not be, a bool-byte
 * not boolean, several values where only one is allowed).
 */
export function measureProperties(props: Properties | undefined, context: number): number {
  if (props === undefined || props === null) return 0;
  if (typeof props !== 'object') throw malformed('properties must be an object');
  const bit = 1 << context;
  let n = 0;
  for (const name in props) {
    const v: unknown = props[name as keyof Properties];
    if (v === undefined) continue;
    const def = PROPERTY_BY_NAME[name];
    if (def === undefined) throw malformed(`unknown property ${name}`);
    if ((def.contextMask & bit) === 0) throw malformed(`property ${name} is not allowed in ${contextName(context)}`);
    switch (def.type) {
      case 'bool':
        if (typeof v !== 'boolean') throw protocolError(`${name} must be a boolean`);
        n += 2;
        break;
      case 'utf8':
        n += 3 + utf8Length(v as string, name);
        break;
      case 'binary':
        if (!isBinary(v)) throw malformed(`${name} must be a Buffer`);
        if (v.length > MAX_STRING_BYTES) throw malformed(`${name} is longer than ${MAX_STRING_BYTES} bytes`);
        n += 3 + v.length;
        break;
      case 'pair':
        n += measureUserProperties(v);
        break;
      default:
        if (Array.isArray(v)) {
          // Only the Subscription Identifier may repeat, and only in PUBLISH.
          if (v.length > 1 && (def.repeatMask & bit) === 0) {
            throw protocolError(`${name} may appear only once in ${contextName(context)}`);
          }
          for (let i = 0; i < v.length; i++) n += measureNumber(def, v[i]);
        } else {
          n += measureNumber(def, v);
        }
    }
  }
  return n;
}

function writeNumber(buf: Buffer, off: number, def: PropertyDefinition, v: number): number {
  buf[off++] = def.id;
  switch (def.type) {
    case 'byte':
      buf[off] = v;
      return off + 1;
    case 'u16':
      buf[off] = v >>> 8;
      buf[off + 1] = v & 0xff;
      return off + 2;
    case 'u32':
      buf.writeUInt32BE(v, off);
      return off + 4;
    default:
      return writeVarint(buf, off, v);
  }
}

/**
 * Writes the Property Length (`length`, from {@link measureProperties}) and the properties at `off`;
 * returns the end offset.
 */
export function writeProperties(buf: Buffer, off: number, props: Properties | undefined, length: number): number {
  off = writeVarint(buf, off, length);
  if (length === 0 || props === undefined) return off;
  for (const name in props) {
    const v: unknown = props[name as keyof Properties];
    if (v === undefined) continue;
    const def = PROPERTY_BY_NAME[name]!;
    switch (def.type) {
      case 'bool':
        buf[off] = def.id;
        buf[off + 1] = v ? 1 : 0;
        off += 2;
        break;
      case 'utf8':
        buf[off] = def.id;
        off = writeUtf8(buf, off + 1, v as string);
        break;
      case 'binary': {
        const data = v as Uint8Array;
        buf[off] = def.id;
        buf[off + 1] = data.length >>> 8;
        buf[off + 2] = data.length & 0xff;
        buf.set(data, off + 3);
        off += 3 + data.length;
        break;
      }
      case 'pair': {
        const list = v as UserProperty[];
        for (let i = 0; i < list.length; i++) {
          const pair = list[i]!;
          buf[off] = def.id;
          off = writeUtf8(buf, off + 1, pair[0]);
          off = writeUtf8(buf, off, pair[1]);
        }
        break;
      }
      default:
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) off = writeNumber(buf, off, def, v[i] as number);
        } else {
          off = writeNumber(buf, off, def, v as number);
        }
    }
  }
  return off;
}

/** Size of a whole property section: the Property Length varint plus `length` bytes of properties. */
export function propertySectionSize(length: number): number {
  return varintSize(length) + length;
}
