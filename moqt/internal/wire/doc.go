// Package wire is a pure codec for the moq-lite wire protocol, drafts 03, 04
// and 05 (version codes 0xff0dad03, 0xff0dad04 and 0xff0dad05).
//
// Every control message is a plain struct with three methods:
//
//   - Append(b, v) appends the complete framed encoding for version v
//     (normally Length | body; Type | Length | body for the typed subscribe
//     responses; the bare datagram for [Datagram]).
//   - Len(v) reports exactly how many bytes Append would write.
//   - Parse(body, v) decodes one body whose framing the caller already
//     stripped, typically with a [Reader]. It must consume the body exactly.
//
// Append panics when asked to encode a message, a field value or a status
// that does not exist in the requested version: that is a programming error in
// the caller, not a property of peer input. Parse never panics; it returns an
// error wrapping one of [ErrTruncated], [ErrTrailing], [ErrTooLarge] or
// [ErrInvalid], so callers can classify failures with errors.Is.
//
// Integers are QUIC (RFC 9000) variable-length integers and are always
// written in their shortest form. Parse accepts any valid (also non-minimal)
// varint encoding, as the reference peers do. A value above 2^62-1 cannot be
// encoded, and Append panics on one.
//
// Strings are a varint length plus UTF-8 bytes; Parse rejects invalid UTF-8
// with ErrInvalid, as both reference peers do. Paths (broadcast, prefix,
// suffix) are carried verbatim: normalizing slashes and enforcing the 32-part
// limit is left to the caller.
//
// Interoperability note: the JavaScript peer decodes most integers as 53-bit
// numbers and fails the stream on anything larger. Only subscribe IDs, hop
// and origin IDs, ExcludeHop, SETUP parameter IDs and the frame timestamp
// delta are read as full 62-bit values there; keep every other value below
// 2^53 when talking to it.
//
// Frame headers on group streams are the hot path: [AppendFrameHeader],
// [FrameHeaderLen] and [Reader.ReadFrameHeader] do not allocate.
//
// The package keeps no I/O state beyond the small [Reader] adapter, which
// frames messages off a stream with one reusable buffer.
//
// The byte layouts follow the @moq/net 0.3.4 JavaScript peer (module
// lite/*.js) and the Rust moq-net crate; the golden test vectors in this
// package were produced by the JavaScript encoders (see testdata/gen_golden.mjs).
package wire
