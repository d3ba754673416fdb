// Package media converts between MPEG-TS and the hang format that
// @moq/watch plays, for `moq pub media` and `moq sub media`.
//
// Demuxer reads MPEG-TS with github.com/asticode/go-astits and produces a
// hang catalog and frames: H.264 access units as Annex B with SPS and PPS
// in front of every IDR (codec avc1.PPCCLL from the SPS, size from its
// Exp-Golomb fields, frame rate from its VUI), AAC frames with their ADTS headers stripped (codec
// mp4a.40.2, the AudioSpecificConfig as description), timestamps in
// microseconds on one clock. Muxer goes the other way.
//
// The bitstream code (NAL splitting, SPS parsing, ADTS) is small and ours;
// the references are ITU-T H.264 §7.3–7.4 and ISO/IEC 14496-3 §1.6 and
// 13818-7 §6.2. Every parser returns an error on malformed input, never
// panics, and is fuzzed.
package media
