// Package hang holds the pieces of the hang media format that a Go program
// needs to publish or play media through MoQ as moq-dev's @moq/watch and
// @moq/publish do: the catalog (the JSON document on the "catalog.json" track
// that lists a broadcast's renditions) and the "legacy" frame container (a
// QUIC varint timestamp in microseconds followed by the codec payload).
//
// A broadcast in the hang format has one catalog track and one track per
// rendition, named by the rendition keys of the catalog. Each catalog update
// is one group holding one frame: the whole catalog as JSON. Each group of a
// video track is one group of pictures: its first frame is a keyframe, and a
// player that joins starts there. An audio group holds one frame or several
// (every audio frame decodes on its own).
//
// The package only encodes and decodes; it does no I/O. Publish its output
// with package moqt (one moqt.Frame per hang frame), as `moq pub media` does.
package hang
