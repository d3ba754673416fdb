package hang

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// CatalogTrack is the name of the track that carries a hang broadcast's
// catalog.
const CatalogTrack = "catalog.json"

// ContainerLegacy is the container kind whose frames are a varint
// timestamp followed by the raw codec payload (AppendFrame, ParseFrame).
const ContainerLegacy = "legacy"

// Catalog is the JSON document a hang broadcast publishes on its catalog
// track: the video and audio renditions and how to decode them. Fields this
// package does not know are dropped by ParseCatalog.
type Catalog struct {
	Video *Video `json:"video,omitempty"`
	Audio *Audio `json:"audio,omitempty"`
}

// Video lists a broadcast's video renditions by track name.
type Video struct {
	Renditions map[string]VideoConfig `json:"renditions"`
	// Display is the size the picture should be shown at, if known.
	Display *Display `json:"display,omitempty"`
}

// Display is a picture size in pixels.
type Display struct {
	Width  uint32 `json:"width"`
	Height uint32 `json:"height"`
}

// VideoConfig describes one video rendition, in WebCodecs' terms
// (VideoDecoderConfig).
type VideoConfig struct {
	// Codec is the WebCodecs codec string, e.g. "avc1.42c01e".
	Codec string `json:"codec"`
	// Container says how the track's frames are packed; the zero value
	// means ContainerLegacy.
	Container Container `json:"container"`
	// Description is the decoder's out-of-band configuration as hex (for
	// H.264, an avcC box body; empty when SPS and PPS travel in-band in an
	// Annex B stream).
	Description string `json:"description,omitempty"`
	// CodedWidth and CodedHeight are the picture size in pixels, if known.
	CodedWidth  uint32 `json:"codedWidth,omitempty"`
	CodedHeight uint32 `json:"codedHeight,omitempty"`
	// Framerate is in frames per second, if known.
	Framerate float64 `json:"framerate,omitempty"`
	// Bitrate is in bits per second, if known.
	Bitrate uint64 `json:"bitrate,omitempty"`
	// OptimizeForLatency asks the decoder to output frames as soon as it
	// can.
	OptimizeForLatency bool `json:"optimizeForLatency,omitempty"`
	// Jitter is the expected variation of frame arrival, in milliseconds.
	Jitter uint64 `json:"jitter,omitempty"`
}

// Audio lists a broadcast's audio renditions by track name.
type Audio struct {
	Renditions map[string]AudioConfig `json:"renditions"`
}

// AudioConfig describes one audio rendition, in WebCodecs' terms
// (AudioDecoderConfig).
type AudioConfig struct {
	// Codec is the WebCodecs codec string: "mp4a.40.2" (AAC-LC), "opus".
	Codec string `json:"codec"`
	// Container says how the track's frames are packed; the zero value
	// means ContainerLegacy.
	Container Container `json:"container"`
	// Description is the decoder's out-of-band configuration as hex (for
	// AAC, the AudioSpecificConfig; none for Opus).
	Description      string `json:"description,omitempty"`
	SampleRate       uint32 `json:"sampleRate"`
	NumberOfChannels uint32 `json:"numberOfChannels"`
	// Bitrate is in bits per second, if known.
	Bitrate uint64 `json:"bitrate,omitempty"`
	// Jitter is the expected variation of frame arrival, in milliseconds.
	Jitter uint64 `json:"jitter,omitempty"`
}

// Container names how a track's frames are packed. Only ContainerLegacy
// ("legacy", also the meaning of an empty Kind) is handled by this package;
// hang also knows "cmaf" (with Init, a base64 ftyp+moov) and "loc".
type Container struct {
	Kind string `json:"kind"`
	Init string `json:"init,omitempty"`
}

// IsLegacy reports whether frames use the legacy container.
func (c Container) IsLegacy() bool { return c.Kind == "" || c.Kind == ContainerLegacy }

// MarshalJSON writes an empty Kind as "legacy", hang's default.
func (c Container) MarshalJSON() ([]byte, error) {
	type plain Container
	if c.Kind == "" {
		c.Kind = ContainerLegacy
	}
	return json.Marshal(plain(c))
}

// DescriptionBytes decodes Description.
func (v VideoConfig) DescriptionBytes() ([]byte, error) { return decodeHex(v.Description) }

// DescriptionBytes decodes Description.
func (a AudioConfig) DescriptionBytes() ([]byte, error) { return decodeHex(a.Description) }

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("hang: description is not hex: %w", err)
	}
	return b, nil
}

// ParseCatalog decodes a catalog frame (a full JSON snapshot, as every
// group's first frame is). It checks what a player relies on: every
// rendition has a codec, and descriptions are hex.
func ParseCatalog(b []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("hang: catalog: %w", err)
	}
	if c.Video != nil {
		for name, r := range c.Video.Renditions {
			if err := checkRendition(name, r.Codec, r.Description); err != nil {
				return nil, err
			}
		}
	}
	if c.Audio != nil {
		for name, r := range c.Audio.Renditions {
			if err := checkRendition(name, r.Codec, r.Description); err != nil {
				return nil, err
			}
		}
	}
	return &c, nil
}

func checkRendition(name, codec, desc string) error {
	if name == "" {
		return errors.New("hang: catalog: a rendition has an empty track name")
	}
	if codec == "" {
		return fmt.Errorf("hang: catalog: rendition %q has no codec", name)
	}
	if _, err := decodeHex(desc); err != nil {
		return fmt.Errorf("hang: catalog: rendition %q: %w", name, err)
	}
	return nil
}
