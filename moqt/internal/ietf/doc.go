// Package ietf is the codec for IETF MoQ Transport (draft-ietf-moq-transport)
// drafts 17 to 20, beside the moq-lite codec in moqt/internal/wire. It has no
// I/O state: every message has Append(b, v) and Len(v), which write and size
// the whole framed message, and Parse(payload, v), which decodes the payload
// that [ParseControl] split off a stream.
//
// What differs from QUIC and from moq-lite:
//
//   - Every integer is the draft-17+ "vi64", whose length is given by the
//     leading 1 bits of its first byte and which carries any 64-bit value
//     ([AppendVarint], [ParseVarint]). Draft 17 has no 7-byte form; 18+ do.
//     This package never writes it, as @moq/net does not.
//   - Control messages are framed Type(vi64) | Length(16 bits) | Payload,
//     with a payload of at most [MaxMessageLen] bytes.
//   - Each endpoint opens one unidirectional control stream whose first
//     bytes are its SETUP message (type 0x2F00, which doubles as the stream
//     type); requests (SUBSCRIBE, PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE, ...)
//     each get a bidirectional stream, and replies carry no Request ID.
//   - Setup Options and Track Properties are Key-Value-Pairs ([KVPs]): types
//     delta-coded, even types a varint, odd types length-prefixed bytes, read
//     to the end of the message. Message Parameters ([Params]) are
//     count-prefixed, delta-coded, and each type has its own serialization;
//     an unknown one is an error.
//
// Every decoder rejects a strict prefix of its input with [ErrTruncated],
// checks each count and length against the bytes left or a package limit
// before allocating, and never panics; Append panics only on values the
// caller should not build (such as a message that does not exist in the
// version). Parsed byte slices alias the input.
//
// Golden vectors in testdata/golden.json come from @moq/net 0.3.4's own IETF
// encoders (testdata/gen_golden.mjs). Where @moq/net departs from the draft
// text, this package follows @moq/net and says so at the type.
package ietf
