/**
 * A generic protobuf decoder and encoder driven by the message tables of schema.ts.
 *
 * Decoding keeps bytes fields as views into the input (no copy) and unknown fields as raw bytes.
 * Encoding runs two passes: the first measures every nested message, string and packed run and
 * records the sizes in pre-order; the second writes into one buffer of the exact final size, so
 * large payloads (raw_data) are copied exactly once. Fields are written in field-number order,
 * unknown fields last: the order protobuf's own serializers use, which makes re-encoding a decoded
 * file reproduce it byte for byte.
 */
export { decodeMessage } from './decoder';
export { encodeMessage, MessageTooLargeError } from './encoder';
export type { Message } from './schema';
