package media

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/asticode/go-astits"

	"github.com/gomoq/gomoq/hang"
)

// Track names of the renditions the Demuxer produces.
const (
	VideoTrack = "video"
	AudioTrack = "audio"
)

// tsPacketSize is the size of an MPEG-TS packet as pipes carry them.
const tsPacketSize = 188

// Memory bounds: the TS demuxer gathers a PES packet's TS packets until
// the next one starts, so a stream that never starts one would grow without
// end; and a stream whose tables never come is not worth reading for long.
const (
	maxPESBytes = 16 << 20 // one PES packet (a 4K intra frame is a few MB)
	maxNoPMT    = 4 << 20  // input read before a PMT
)

// Limits of the wait for every elementary stream's configuration before
// the catalog is published without the missing ones.
const (
	maxPendingPTS    = 2 * 90000 // 2 s of media in 90 kHz ticks
	maxPendingFrames = 1000
)

// AudioGroupDuration is how much audio one group holds, in microseconds.
// An audio frame decodes on its own, so any grouping works for a player;
// 200 ms groups (about ten AAC frames) rather than one frame per group
// mean five group streams a second instead of 47, and keep the burst of
// audio read before the catalog (ffmpeg writes audio up to 0.7 s ahead of
// video) within the few groups a relay caches for a track's first
// subscriber. A player joining late starts at most this far behind.
const AudioGroupDuration = 200_000

// Frame is one frame of a rendition: its codec payload (H.264 Annex B with
// parameter sets before each IDR, or one raw AAC frame) and its
// presentation time in microseconds on the broadcast's one clock.
type Frame struct {
	Track     string
	Timestamp uint64
	Payload   []byte
	// Key reports a frame that starts a group: an IDR access unit for
	// video; for audio the first frame and then the first frame at least
	// AudioGroupDuration after the previous group's first.
	Key bool
}

// Demuxer reads MPEG-TS (as ffmpeg writes it with -f mpegts) and turns its
// first H.264 and first AAC (ADTS) elementary streams into hang: a catalog
// and frames.
//
// Timestamps come from the PES presentation timestamps (90 kHz), unwrapped
// past their 33 bits and made relative to the earliest first PTS of the
// streams, all streams on one clock, in microseconds. The Demuxer does no
// pacing: a file must be read at its own speed (ffmpeg -re) for the
// timestamps to advance in real time. Access units are expected one per
// PES packet, as every TS muxer writes them; timestamps are taken as
// presentation order, so B-frames (whose PTS go backwards) are reported
// with a warning, not reordered.
type Demuxer struct {
	// Logger receives warnings (B-frames, unsupported extra streams, a
	// stream left out of the catalog); nil discards them.
	Logger *slog.Logger

	r       *countingReader
	dmx     *astits.Demuxer
	streams map[uint16]*esStream
	pmtSeen bool
	order   []*esStream // supported streams in PMT order

	ready   bool           // the catalog went out; frames flow
	pending []pendingFrame // before ready
	base    int64          // unwrapped PTS of timestamp 0
	clock   int64          // last unwrapped PTS of any stream (unwrap reference)
	hasClk  bool
	catalog []byte // JSON of the last catalog returned
	queue   []any  // events to return: *hang.Catalog or Frame
	warned  map[string]bool
	pesLen  map[uint16]int // bytes of each PID since its last PES start
	fatal   error          // set by skip: a bound was crossed
}

// pendingFrame is a frame waiting for the catalog, with its unwrapped PTS.
type pendingFrame struct {
	f   Frame
	s   *esStream
	pts int64
}

type esStream struct {
	pid    uint16
	track  string
	video  *h264Track
	audio  *ADTS // nil until the first ADTS header
	last   int64 // last unwrapped PTS
	has    bool
	lastT  uint64 // last timestamp returned
	hasT   bool
	keyT   uint64 // audio: timestamp of the current group's first frame
	hasKey bool
}

// NewDemuxer returns a Demuxer reading r.
func NewDemuxer(r io.Reader) *Demuxer {
	cr := &countingReader{r: r}
	d := &Demuxer{
		r:       cr,
		streams: make(map[uint16]*esStream),
		warned:  make(map[string]bool),
		pesLen:  make(map[uint16]int),
	}
	cr.stop = &d.fatal
	d.dmx = astits.NewDemuxer(context.Background(), cr, astits.DemuxerOptPacketSize(tsPacketSize), astits.DemuxerOptPacketSkipper(d.skip))
	return d
}

// skip tells the TS demuxer which packets to drop: once the PMT is known,
// those of every PID but the streams used. It enforces the memory bounds.
func (d *Demuxer) skip(p *astits.Packet) bool {
	if d.pmtSeen && d.streams[p.Header.PID] == nil {
		return true
	}
	if !d.pmtSeen && d.r.n > maxNoPMT {
		d.fatal = fmt.Errorf("no MPEG-TS program table (PMT) in the first %d bytes", maxNoPMT)
		return true
	}
	if p.Header.PayloadUnitStartIndicator {
		d.pesLen[p.Header.PID] = 0
	}
	if p.Header.HasPayload { // (the payload is not parsed yet: count the packet)
		d.pesLen[p.Header.PID] += tsPacketSize - 4
	}
	if d.pesLen[p.Header.PID] > maxPESBytes {
		d.fatal = fmt.Errorf("a PES packet on PID %d is larger than %d bytes", p.Header.PID, maxPESBytes)
		return true
	}
	return false
}

// countingReader counts the bytes read; once *stop is set it fails, so
// that the TS demuxer returns.
type countingReader struct {
	r    io.Reader
	n    int64
	stop *error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if *c.stop != nil {
		return 0, *c.stop
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Next returns the next event: a *hang.Catalog (the first once every
// elementary stream's configuration is known, then one each time the
// configuration changes) or a Frame. It returns io.EOF at the clean end of
// the input, and a descriptive error for input that is not MPEG-TS, is
// truncated, or carries no H.264 or AAC stream, or a codec hang cannot
// carry.
func (d *Demuxer) Next() (ev any, err error) {
	for len(d.queue) == 0 {
		if err := d.step(); err != nil {
			return nil, err
		}
	}
	ev = d.queue[0]
	d.queue[0] = nil
	d.queue = d.queue[1:]
	return ev, nil
}

// nextData calls the TS demuxer, turning a panic in it into an error.
func (d *Demuxer) nextData() (data *astits.DemuxerData, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("malformed MPEG-TS (the demuxer failed: %v)", p)
		}
	}()
	return d.dmx.NextData()
}

// step reads one piece of TS data and queues what follows from it.
func (d *Demuxer) step() error {
	data, err := d.nextData()
	if d.fatal != nil {
		return d.fatal
	}
	if errors.Is(err, astits.ErrNoMorePackets) {
		return d.end()
	}
	if errors.Is(err, astits.ErrPacketMustStartWithASyncByte) {
		if d.r.n <= tsPacketSize {
			return errors.New("the input is not MPEG-TS (no 0x47 sync byte; have ffmpeg write -f mpegts)")
		}
		return fmt.Errorf("MPEG-TS lost sync after %d bytes", d.r.n-tsPacketSize)
	}
	if err != nil {
		return fmt.Errorf("reading MPEG-TS: %w", err)
	}
	switch {
	case data.PMT != nil:
		return d.pmt(data.PMT)
	case data.PES != nil:
		s := d.streams[data.PID]
		if s == nil {
			return nil
		}
		return d.pes(s, data.PES)
	}
	return nil
}

func (d *Demuxer) warnOnce(key, msg string, args ...any) {
	if d.warned[key] {
		return
	}
	d.warned[key] = true
	if d.Logger != nil {
		d.Logger.Warn(msg, args...)
	}
}

// Opus in MPEG-TS: stream type 0x06 with registration descriptor "Opus".
const opusRegistration = 0x4f707573

// pmt records the first program's streams: the first H.264 one and the
// first AAC one. Another video or audio codec is an error; data streams
// are ignored.
func (d *Demuxer) pmt(p *astits.PMTData) error {
	if d.pmtSeen {
		return nil // repeated tables; a program change is not followed
	}
	d.pmtSeen = true
	var video, audio bool
	for _, es := range p.ElementaryStreams {
		switch {
		case es.StreamType == astits.StreamTypeH264Video:
			if video {
				d.warnOnce("extra-video", "media: ignoring an extra H.264 stream", "pid", es.ElementaryPID)
				continue
			}
			video = true
			s := &esStream{pid: es.ElementaryPID, track: VideoTrack, video: &h264Track{}}
			d.streams[s.pid] = s
			d.order = append(d.order, s)
		case es.StreamType == astits.StreamTypeAACAudio:
			if audio {
				d.warnOnce("extra-audio", "media: ignoring an extra AAC stream", "pid", es.ElementaryPID)
				continue
			}
			audio = true
			s := &esStream{pid: es.ElementaryPID, track: AudioTrack}
			d.streams[s.pid] = s
			d.order = append(d.order, s)
		case es.StreamType.IsVideo():
			return fmt.Errorf("unsupported video codec %s (stream type 0x%02x): encode H.264 (ffmpeg -c:v libx264 -bf 0)", es.StreamType, uint8(es.StreamType))
		case es.StreamType.IsAudio():
			return fmt.Errorf("unsupported audio codec %s (stream type 0x%02x): encode AAC (ffmpeg -c:a aac)", es.StreamType, uint8(es.StreamType))
		case es.StreamType == astits.StreamTypePrivateData && hasRegistration(es, opusRegistration):
			return errors.New("unsupported audio codec Opus in MPEG-TS: encode AAC (ffmpeg -c:a aac)")
		}
	}
	if !video && !audio {
		return errors.New("the MPEG-TS program has no H.264 video and no AAC audio stream")
	}
	return nil
}

func hasRegistration(es *astits.PMTElementaryStream, id uint32) bool {
	for _, desc := range es.ElementaryStreamDescriptors {
		if desc != nil && desc.Registration != nil && desc.Registration.FormatIdentifier == id {
			return true
		}
	}
	return false
}

// unwrap extends a 33-bit PTS to the unwrapped value nearest to ref.
func unwrap(ref, pts int64) int64 {
	const period = 1 << 33
	d := (pts - ref) % period
	if d < 0 {
		d += period
	}
	if d >= period/2 {
		d -= period
	}
	return ref + d
}

func (d *Demuxer) pes(s *esStream, p *astits.PESData) error {
	h := p.Header
	if h == nil || h.OptionalHeader == nil || h.OptionalHeader.PTS == nil {
		d.warnOnce("nopts", "media: dropping a PES packet without a PTS", "pid", s.pid)
		return nil
	}
	oh := h.OptionalHeader
	ref := oh.PTS.Base
	if s.has {
		ref = s.last
	} else if d.hasClk {
		ref = d.clock
	}
	pts := unwrap(ref, oh.PTS.Base)
	s.last, s.has = pts, true
	d.clock, d.hasClk = pts, true
	if s.video != nil && oh.DTS != nil && oh.DTS.Base != oh.PTS.Base {
		d.warnOnce("bframes", "media: the H.264 stream has B-frames (DTS differs from PTS): players drop frames whose timestamps go backwards; encode with -bf 0")
	}
	if s.video != nil {
		out, key, changed, err := s.video.accessUnit(p.Data)
		if err != nil {
			return err
		}
		if changed && d.ready {
			d.updateCatalog()
		}
		if out != nil {
			d.emit(s, Frame{Track: s.track, Payload: out, Key: key}, pts)
		}
		return nil
	}
	cfg, frames, err := splitADTS(p.Data)
	if err != nil {
		return err
	}
	if len(frames) == 0 {
		return nil
	}
	if cfg.ObjectType != 2 {
		return fmt.Errorf("unsupported AAC audio object type %d (only AAC-LC, object type 2, is supported: ffmpeg -c:a aac)", cfg.ObjectType)
	}
	if s.audio == nil || cfg.FreqIndex != s.audio.FreqIndex || cfg.Channels != s.audio.Channels {
		first := s.audio == nil
		s.audio = &cfg
		if !first && d.ready {
			d.updateCatalog()
		}
	}
	rate := int64(cfg.SampleRate())
	for i, f := range frames {
		// PTS of the i-th frame of the packet, in 90 kHz ticks.
		at := pts + int64(i)*aacFrameSamples*90000/rate
		d.emit(s, Frame{Track: s.track, Payload: f, Key: true}, at)
	}
	return nil
}

// configured reports whether the catalog can describe s.
func (s *esStream) configured() bool {
	if s.video != nil {
		return s.video.sps != nil && s.video.started
	}
	return s.audio != nil
}

// emit queues a frame whose unwrapped PTS is pts: at once once the
// catalog went out, else in pending until every stream is configured (or
// the wait is over).
func (d *Demuxer) emit(s *esStream, f Frame, pts int64) {
	if d.ready {
		d.push(s, f, pts)
		return
	}
	d.pending = append(d.pending, pendingFrame{f, s, pts})
	all := true
	for _, x := range d.order {
		all = all && x.configured()
	}
	span := int64(0)
	if len(d.pending) > 1 {
		span = d.pending[len(d.pending)-1].pts - d.pending[0].pts
	}
	if all || span > maxPendingPTS || len(d.pending) > maxPendingFrames {
		d.start()
	}
}

// start publishes the first catalog and the pending frames.
func (d *Demuxer) start() {
	d.ready = true
	first := true
	for _, p := range d.pending {
		if first || p.pts < d.base {
			d.base, first = p.pts, false
		}
	}
	for _, s := range d.order {
		if !s.configured() {
			d.warnOnce("missing-"+s.track, "media: no "+s.track+" configuration yet: publishing the catalog without it (it is added when one arrives)", "pid", s.pid)
		}
	}
	d.updateCatalog()
	pending := d.pending
	d.pending = nil
	for _, p := range pending {
		d.push(p.s, p.f, p.pts)
	}
}

// push converts pts to the broadcast clock and queues the frame; frames of
// a stream the catalog does not describe yet, and frames before the clock's
// start, are dropped.
func (d *Demuxer) push(s *esStream, f Frame, pts int64) {
	if !s.configured() {
		return
	}
	rel := pts - d.base
	if rel < 0 {
		d.warnOnce("early-"+s.track, "media: dropping "+s.track+" frames that start before the broadcast's first timestamp")
		return
	}
	f.Timestamp = uint64(rel * 1000 / 90) // 90 kHz → µs
	if s.video == nil {
		f.Key = !s.hasKey || f.Timestamp >= s.keyT+AudioGroupDuration
		if f.Key {
			s.keyT, s.hasKey = f.Timestamp, true
		}
	}
	if s.hasT && f.Timestamp <= s.lastT {
		d.warnOnce("backwards-"+s.track, "media: "+s.track+" timestamps do not increase (B-frames or a discontinuity in the input): players drop such frames", "timestamp", f.Timestamp, "previous", s.lastT)
	}
	s.lastT, s.hasT = f.Timestamp, true
	d.queue = append(d.queue, f)
}

// buildCatalog returns the catalog describing the configured streams.
func (d *Demuxer) buildCatalog() *hang.Catalog {
	c := &hang.Catalog{}
	for _, s := range d.order {
		if !s.configured() {
			continue
		}
		if s.video != nil {
			sps := s.video.spsInfo
			c.Video = &hang.Video{Renditions: map[string]hang.VideoConfig{s.track: {
				Codec:              sps.Codec(),
				Container:          hang.Container{Kind: hang.ContainerLegacy},
				CodedWidth:         uint32(sps.Width),
				CodedHeight:        uint32(sps.Height),
				Framerate:          sps.Framerate,
				OptimizeForLatency: true,
			}}, Display: &hang.Display{Width: uint32(sps.Width), Height: uint32(sps.Height)}}
		} else {
			a := s.audio
			c.Audio = &hang.Audio{Renditions: map[string]hang.AudioConfig{s.track: {
				Codec:            "mp4a.40.2",
				Container:        hang.Container{Kind: hang.ContainerLegacy},
				Description:      hex.EncodeToString(a.ASC()),
				SampleRate:       uint32(a.SampleRate()),
				NumberOfChannels: uint32(a.ChannelCount()),
			}}}
		}
	}
	return c
}

// updateCatalog queues the catalog if it differs from the last one.
func (d *Demuxer) updateCatalog() {
	c := d.buildCatalog()
	b := mustJSON(c)
	if string(b) == string(d.catalog) {
		return
	}
	d.catalog = b
	d.queue = append(d.queue, c)
}

// end handles the end of the input.
func (d *Demuxer) end() error {
	if d.r.n%tsPacketSize != 0 {
		return fmt.Errorf("the MPEG-TS input is truncated: it ends %d bytes into a packet", d.r.n%tsPacketSize)
	}
	if !d.pmtSeen {
		if d.r.n == 0 {
			return errors.New("the input is empty (no MPEG-TS)")
		}
		return errors.New("no MPEG-TS program (PAT/PMT) in the input")
	}
	if !d.ready {
		any := false
		for _, s := range d.order {
			any = any || s.configured()
		}
		if !any {
			return errors.New("the input ended before any H.264 keyframe or AAC frame")
		}
		d.start()
		if len(d.queue) > 0 {
			return nil
		}
	}
	return io.EOF
}
