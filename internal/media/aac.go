package media

import (
	"errors"
	"fmt"
)

// aacSampleRates are the sampling frequencies by index (ISO/IEC 14496-3
// Table 1.18); indices 13 and 14 are reserved, 15 means "explicit" in an
// AudioSpecificConfig and is invalid in ADTS.
var aacSampleRates = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// aacFrameSamples is the number of samples per channel in an AAC-LC frame.
const aacFrameSamples = 1024

// ADTS is an ADTS frame header (ISO/IEC 13818-7 §6.2 / 14496-3 §1.A.2).
type ADTS struct {
	ObjectType uint8 // audio object type: profile + 1 (2 is AAC-LC)
	FreqIndex  uint8 // sampling_frequency_index
	Channels   uint8 // channel_configuration (1..7)
	HeaderLen  int   // 7, or 9 with a CRC
	FrameLen   int   // header included
	RawBlocks  int   // number_of_raw_data_blocks_in_frame + 1
}

// SampleRate returns the sampling frequency in Hz.
func (h ADTS) SampleRate() int { return aacSampleRates[h.FreqIndex] }

// ChannelCount returns the number of channels: channel configurations 1..6
// are that many, 7 is eight (7.1).
func (h ADTS) ChannelCount() int {
	if h.Channels == 7 {
		return 8
	}
	return int(h.Channels)
}

// ASC returns the two-byte AudioSpecificConfig equivalent to the header:
// object type (5 bits), frequency index (4), channel configuration (4),
// and three zero bits (GASpecificConfig: 1024-sample frames, no
// dependency, no extension).
func (h ADTS) ASC() []byte {
	v := uint16(h.ObjectType)<<11 | uint16(h.FreqIndex)<<7 | uint16(h.Channels)<<3
	return []byte{byte(v >> 8), byte(v)}
}

// ParseADTS parses the ADTS header at the start of b and checks that the
// frame it describes is one whose configuration fits an
// AudioSpecificConfig: a known sampling frequency, a channel configuration
// (not 0, which puts it in the stream) and one raw data block.
func ParseADTS(b []byte) (ADTS, error) {
	if len(b) < 7 {
		return ADTS{}, errors.New("aac: ADTS header truncated")
	}
	if b[0] != 0xff || b[1]&0xf0 != 0xf0 {
		return ADTS{}, errors.New("aac: no ADTS sync word")
	}
	if b[1]&0x06 != 0 {
		return ADTS{}, errors.New("aac: ADTS layer is not 0")
	}
	h := ADTS{
		ObjectType: b[2]>>6 + 1,
		FreqIndex:  b[2] >> 2 & 0x0f,
		Channels:   b[2]&1<<2 | b[3]>>6,
		HeaderLen:  7,
		FrameLen:   int(b[3]&0x03)<<11 | int(b[4])<<3 | int(b[5])>>5,
		RawBlocks:  int(b[6]&0x03) + 1,
	}
	if b[1]&0x01 == 0 { // protection_absent = 0: a CRC follows
		h.HeaderLen = 9
	}
	switch {
	case int(h.FreqIndex) >= len(aacSampleRates):
		return ADTS{}, fmt.Errorf("aac: ADTS sampling frequency index %d", h.FreqIndex)
	case h.Channels == 0:
		return ADTS{}, errors.New("aac: ADTS channel configuration 0 (in-band PCE) is not supported")
	case h.FrameLen < h.HeaderLen:
		return ADTS{}, fmt.Errorf("aac: ADTS frame length %d shorter than its header", h.FrameLen)
	case h.RawBlocks != 1:
		return ADTS{}, fmt.Errorf("aac: ADTS frames with %d raw data blocks are not supported", h.RawBlocks)
	}
	return h, nil
}

// splitADTS splits a PES payload into raw AAC frames (ADTS headers
// stripped), all of which must share the configuration of the first one.
// The frames alias b.
func splitADTS(b []byte) (cfg ADTS, frames [][]byte, err error) {
	for len(b) > 0 {
		h, err := ParseADTS(b)
		if err != nil {
			return cfg, nil, err
		}
		if h.FrameLen > len(b) {
			return cfg, nil, fmt.Errorf("aac: ADTS frame of %d bytes truncated to %d", h.FrameLen, len(b))
		}
		if len(frames) == 0 {
			cfg = h
		} else if h.ObjectType != cfg.ObjectType || h.FreqIndex != cfg.FreqIndex || h.Channels != cfg.Channels {
			return cfg, nil, errors.New("aac: ADTS configuration changes within a PES packet")
		}
		frames = append(frames, b[h.HeaderLen:h.FrameLen])
		b = b[h.FrameLen:]
	}
	return cfg, frames, nil
}

// AudioSpecificConfig is the part of an MPEG-4 AudioSpecificConfig
// (ISO/IEC 14496-3 §1.6.2.1) that an ADTS header can express.
type AudioSpecificConfig struct {
	ObjectType uint8
	FreqIndex  uint8
	Channels   uint8
}

// ParseASC parses an AudioSpecificConfig whose object type, sampling
// frequency and channel configuration an ADTS header can carry: object
// types 1 to 4 (ADTS has two profile bits), a tabled frequency, and
// channel configuration 1 to 7.
func ParseASC(b []byte) (AudioSpecificConfig, error) {
	if len(b) < 2 {
		return AudioSpecificConfig{}, errors.New("aac: AudioSpecificConfig shorter than 2 bytes")
	}
	c := AudioSpecificConfig{ObjectType: b[0] >> 3, FreqIndex: (b[0]&0x07)<<1 | b[1]>>7, Channels: (b[1] >> 3) & 0x0f}
	switch {
	case c.ObjectType < 1 || c.ObjectType > 4:
		return c, fmt.Errorf("aac: audio object type %d cannot be carried in ADTS", c.ObjectType)
	case int(c.FreqIndex) >= len(aacSampleRates):
		return c, fmt.Errorf("aac: sampling frequency index %d cannot be carried in ADTS", c.FreqIndex)
	case c.Channels < 1 || c.Channels > 7:
		return c, fmt.Errorf("aac: channel configuration %d cannot be carried in ADTS", c.Channels)
	}
	return c, nil
}

// AppendADTS appends an ADTS header (no CRC) for a raw frame of
// payloadLen bytes to b.
func (c AudioSpecificConfig) AppendADTS(b []byte, payloadLen int) ([]byte, error) {
	n := payloadLen + 7
	if n >= 1<<13 {
		return b, fmt.Errorf("aac: frame of %d bytes too large for ADTS", payloadLen)
	}
	return append(b,
		0xff,
		0xf1, // MPEG-4, layer 0, no CRC
		(c.ObjectType-1)<<6|c.FreqIndex<<2|c.Channels>>2,
		(c.Channels&3)<<6|byte(n>>11),
		byte(n>>3),
		byte(n&7)<<5|0x1f, // buffer fullness 0x7ff (variable bit rate)
		0xfc,              // ... and one raw data block
	), nil
}
