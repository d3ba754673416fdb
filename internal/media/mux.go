package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/asticode/go-astits"

	"github.com/gomoq/gomoq/hang"
)

// PIDs of the streams a Muxer writes.
const (
	videoPID = 0x100
	audioPID = 0x101
)

// ptsOffset is added to every timestamp written (one second, in 90 kHz
// ticks), so that the PCR, sent a little ahead of the PTS, stays positive.
const (
	ptsOffset = 90000
	pcrLead   = 9000 // the PCR runs 100 ms ahead of the PTS it comes with
)

// CheckVideo reports why a video rendition cannot be written as MPEG-TS,
// or nil: the Muxer takes H.264 (avc1 or avc3) in the legacy container,
// as Annex B (no description) or as length-prefixed NAL units with an avcC
// description.
func CheckVideo(c hang.VideoConfig) error {
	if !c.Container.IsLegacy() {
		return fmt.Errorf("container %q is not supported (only legacy)", c.Container.Kind)
	}
	if !strings.HasPrefix(c.Codec, "avc1.") && !strings.HasPrefix(c.Codec, "avc3.") {
		return fmt.Errorf("codec %q is not supported (only H.264: avc1, avc3)", c.Codec)
	}
	if c.Description != "" {
		desc, err := c.DescriptionBytes()
		if err != nil {
			return err
		}
		if _, err := parseAVCC(desc); err != nil {
			return err
		}
	}
	return nil
}

// CheckAudio reports why an audio rendition cannot be written as MPEG-TS,
// or nil: the Muxer takes AAC-LC (mp4a.40.2) in the legacy container with
// its AudioSpecificConfig as the description.
func CheckAudio(c hang.AudioConfig) error {
	if !c.Container.IsLegacy() {
		return fmt.Errorf("container %q is not supported (only legacy)", c.Container.Kind)
	}
	if c.Codec != "mp4a.40.2" {
		return fmt.Errorf("codec %q is not supported (only AAC-LC, mp4a.40.2)", c.Codec)
	}
	desc, err := c.DescriptionBytes()
	if err != nil {
		return err
	}
	_, err = ParseASC(desc)
	return err
}

// avcC is the part of an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §5.3.3.1) needed to turn AVCC frames into Annex B.
type avcC struct {
	lengthSize int
	sps, pps   [][]byte
}

func parseAVCC(b []byte) (*avcC, error) {
	bad := errors.New("h264: malformed avcC description")
	if len(b) < 7 || b[0] != 1 {
		return nil, bad
	}
	c := &avcC{lengthSize: int(b[4]&3) + 1}
	if c.lengthSize == 3 {
		return nil, bad
	}
	rest := b[5:]
	// readSets reads a count byte (masked) and that many u16-prefixed sets.
	readSets := func(mask byte) ([][]byte, bool) {
		if len(rest) < 1 {
			return nil, false
		}
		count := int(rest[0] & mask)
		rest = rest[1:]
		var sets [][]byte
		for range count {
			if len(rest) < 2 {
				return nil, false
			}
			n := int(binary.BigEndian.Uint16(rest))
			if n == 0 || len(rest) < 2+n {
				return nil, false
			}
			sets = append(sets, rest[2:2+n])
			rest = rest[2+n:]
		}
		return sets, true
	}
	var ok bool
	if c.sps, ok = readSets(0x1f); !ok || len(c.sps) == 0 {
		return nil, bad
	}
	if c.pps, ok = readSets(0xff); !ok || len(c.pps) == 0 {
		return nil, bad
	}
	return c, nil
}

// Muxer writes a broadcast's video and audio frames as one MPEG-TS
// program: H.264 (stream type 0x1B, PID 0x100) and AAC with ADTS headers
// (0x0F, PID 0x101), the PCR on the video PID (the audio PID when there is
// no video). PTS are the frames' timestamps plus one second. Its methods
// must not be called concurrently.
type Muxer struct {
	m      *astits.Muxer
	video  bool
	audio  bool
	avcc   *avcC // nil: the video frames are Annex B
	asc    AudioSpecificConfig
	pcrPID uint16
	buf    []byte
}

// NewMuxer returns a Muxer writing to w the renditions given (either may
// be nil, not both), which must pass CheckVideo and CheckAudio.
func NewMuxer(w io.Writer, video *hang.VideoConfig, audio *hang.AudioConfig) (*Muxer, error) {
	if video == nil && audio == nil {
		return nil, errors.New("media: nothing to mux")
	}
	m := &Muxer{m: astits.NewMuxer(context.Background(), w)}
	if video != nil {
		if err := CheckVideo(*video); err != nil {
			return nil, err
		}
		if video.Description != "" {
			desc, _ := video.DescriptionBytes()
			m.avcc, _ = parseAVCC(desc)
		}
		if err := m.m.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: videoPID, StreamType: astits.StreamTypeH264Video}); err != nil {
			return nil, err
		}
		m.video, m.pcrPID = true, videoPID
	}
	if audio != nil {
		if err := CheckAudio(*audio); err != nil {
			return nil, err
		}
		desc, _ := audio.DescriptionBytes()
		m.asc, _ = ParseASC(desc)
		if err := m.m.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: audioPID, StreamType: astits.StreamTypeAACAudio}); err != nil {
			return nil, err
		}
		m.audio = true
		if !m.video {
			m.pcrPID = audioPID
		}
	}
	m.m.SetPCRPID(m.pcrPID)
	return m, nil
}

func pts90k(ts uint64) int64 {
	return int64((ts*9/100 + ptsOffset) & (1<<33 - 1))
}

// write writes one PES packet.
func (m *Muxer) write(pid uint16, ts uint64, data []byte, key bool) error {
	pts := pts90k(ts)
	d := &astits.MuxerData{
		PID: pid,
		PES: &astits.PESData{
			Header: &astits.PESHeader{OptionalHeader: &astits.PESOptionalHeader{
				MarkerBits:             2,
				DataAlignmentIndicator: true,
				PTSDTSIndicator:        astits.PTSDTSIndicatorOnlyPTS,
				PTS:                    &astits.ClockReference{Base: pts},
			}},
			Data: data,
		},
	}
	if pid == m.pcrPID {
		pcr := pts - pcrLead
		if pcr < 0 {
			pcr += 1 << 33
		}
		d.AdaptationField = &astits.PacketAdaptationField{
			HasPCR:                true,
			PCR:                   &astits.ClockReference{Base: pcr},
			RandomAccessIndicator: key,
		}
	}
	_, err := m.m.WriteData(d)
	return err
}

// WriteVideo writes one video frame (a hang payload) presented at ts µs;
// key marks a group's first frame, which starts with an IDR.
func (m *Muxer) WriteVideo(ts uint64, payload []byte, key bool) error {
	if !m.video {
		return errors.New("media: no video stream")
	}
	data := payload
	if m.avcc != nil {
		b := m.buf[:0]
		b = append(b, 0, 0, 0, 1, nalAUD, 0xf0)
		if key {
			for _, s := range m.avcc.sps {
				b = appendAnnexB(b, s)
			}
			for _, p := range m.avcc.pps {
				b = appendAnnexB(b, p)
			}
		}
		for p := payload; len(p) > 0; {
			if len(p) < m.avcc.lengthSize {
				return errors.New("h264: truncated AVCC length")
			}
			n := 0
			for _, c := range p[:m.avcc.lengthSize] {
				n = n<<8 | int(c)
			}
			p = p[m.avcc.lengthSize:]
			if n > len(p) {
				return errors.New("h264: AVCC NAL unit longer than its frame")
			}
			b = appendAnnexB(b, p[:n])
			p = p[n:]
		}
		m.buf = b
		data = b
	}
	return m.write(videoPID, ts, data, key)
}

// WriteAudio writes one raw AAC frame presented at ts µs, with an ADTS
// header built from the rendition's AudioSpecificConfig.
func (m *Muxer) WriteAudio(ts uint64, payload []byte) error {
	if !m.audio {
		return errors.New("media: no audio stream")
	}
	b, err := m.asc.AppendADTS(m.buf[:0], len(payload))
	if err != nil {
		return err
	}
	b = append(b, payload...)
	m.buf = b
	return m.write(audioPID, ts, b, true)
}
