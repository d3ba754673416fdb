// Package ietf is the codec for IETF MoQ Transport (draft-ietf-moq-transport)
// drafts 17 to 20, beside the moq-lite codec in moqt/internal/wire. It has no
// I/O state: every control message has Append(b, v) and Len(v), which write
// and size the whole framed message, and Parse(payload, v), which decodes the
// payload that [ParseControl] or [Reader.ReadControl] split off a stream
// ([ParseMessage] dispatches on the type). Stream headers, objects and
// datagrams have the same methods on their own bytes.
//
// Covered, version-gated where the drafts differ: SETUP; REQUEST_OK,
// REQUEST_ERROR (with the 18+ Redirect); GOAWAY (with draft 18's Request ID);
// SUBSCRIBE, SUBSCRIBE_OK, REQUEST_UPDATE, PUBLISH_DONE; PUBLISH, PUBLISH_OK
// (17 only), TRACK_STATUS; PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE (0x11 on 17,
// 0x50 on 18+), SUBSCRIBE_TRACKS (18+), NAMESPACE, NAMESPACE_DONE,
// PUBLISH_BLOCKED; FETCH (standalone and joining), FETCH_OK; subgroup headers
// and objects, fetch headers and objects, object datagrams; Message
// Parameters, Setup Options and Track/Object Properties; the LOCATION_FILTER
// value. Drafts 17+ have no PUBLISH_NAMESPACE_DONE / _CANCEL, MAX_REQUEST_ID
// or UNSUBSCRIBE: requests live on their own bidi streams and end with them.
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
// Every decoder rejects a strict prefix of its input with [ErrTruncated]
// (datagram payloads and blocks that run to the end of a message excepted,
// as they have no length), checks each count and length against the bytes
// left or a package limit before allocating, and never panics; Append panics
// only on values the caller should not build (such as a message that does
// not exist in the version). Parsed byte slices alias the input.
//
// Golden vectors in testdata/golden.json come from @moq/net 0.3.4's own IETF
// encoders (testdata/gen_golden.mjs); where it has none (FETCH, FETCH_OK,
// SUBSCRIBE_TRACKS, datagrams) they are built with its Writer after the draft
// text, and say so. Where @moq/net departs from the draft text, this package
// follows @moq/net and says so at the type.
package ietf
