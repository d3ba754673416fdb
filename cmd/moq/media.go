package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomoq/gomoq/hang"
	"github.com/gomoq/gomoq/internal/media"
	"github.com/gomoq/gomoq/moqt"
)

// runPubMedia reads MPEG-TS on stdin and publishes it as a hang broadcast:
// catalog.json plus one track per rendition ("video", "audio").
func runPubMedia(ctx context.Context, args []string) error {
	fs := newFlagSet("pub media", "pub media --url URL --broadcast PATH  < MPEG-TS (ffmpeg ... -f mpegts -)")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "", "broadcast `path` to publish (end it with .hang for @moq/watch, e.g. demo.hang)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long to wait, after stdin ends, for subscribers to receive everything")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "broadcast"); err != nil {
		return err
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	target, err := c.target()
	if err != nil {
		return err
	}

	// The input is read and checked before the relay is dialled: bad
	// input fails at once, and the catalog is known when we announce.
	events := make(chan any, 256)
	readErr := make(chan error, 1)
	go func() {
		d := media.NewDemuxer(bufio.NewReaderSize(os.Stdin, 64<<10))
		d.Logger = client.Logger
		for {
			ev, err := d.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			events <- ev
		}
	}()
	var first *hang.Catalog
	select {
	case ev := <-events:
		c, ok := ev.(*hang.Catalog) // the Demuxer's first event is a catalog
		if !ok {
			return errors.New("internal error: media before the catalog")
		}
		first = c
	case err := <-readErr:
		if err == nil {
			err = errors.New("the input ended before any media")
		}
		return fmt.Errorf("reading stdin: %w", err)
	case <-ctx.Done():
		return nil
	}

	p := newMediaPublisher()
	pubCtx, unpublish := context.WithCancel(ctx)
	defer unpublish()
	mux := moqt.NewTrackMux()
	mux.PublishFunc(pubCtx, moqt.BroadcastPath(*broadcast), p.serve)
	p.catalog(first)
	sess, err := client.Dial(ctx, target, mux)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "moq: publishing %s (%s) on %s (%s)\n", moqt.BroadcastPath(*broadcast), describeCatalog(first), c.shown(), sess.Version())

	var inputErr error
loop:
	for {
		select {
		case ev := <-events:
			switch e := ev.(type) {
			case *hang.Catalog:
				p.catalog(e)
				fmt.Fprintf(os.Stderr, "moq: catalog updated (%s)\n", describeCatalog(e))
			case media.Frame:
				p.frame(e)
			}
		case err := <-readErr:
			// Events still queued came before the end.
			for len(events) > 0 {
				switch e := (<-events).(type) {
				case *hang.Catalog:
					p.catalog(e)
				case media.Frame:
					p.frame(e)
				}
			}
			if err != nil {
				inputErr = fmt.Errorf("reading stdin: %w", err)
			}
			break loop
		case <-ctx.Done():
			break loop
		case <-sess.Context().Done():
			return context.Cause(sess.Context())
		}
	}
	// End every track, then the broadcast; Shutdown waits until every
	// subscriber has the whole tracks, bounded by --shutdown-timeout.
	p.end()
	unpublish()
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := client.Shutdown(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "moq: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "moq: published %s\n", p.summary())
	return inputErr
}

// describeCatalog is a one-line summary of a catalog's renditions.
func describeCatalog(c *hang.Catalog) string {
	var parts []string
	if c.Video != nil {
		for name, r := range c.Video.Renditions {
			parts = append(parts, fmt.Sprintf("%s: %s %dx%d", name, r.Codec, r.CodedWidth, r.CodedHeight))
		}
	}
	if c.Audio != nil {
		for name, r := range c.Audio.Renditions {
			parts = append(parts, fmt.Sprintf("%s: %s %d Hz %d ch", name, r.Codec, r.SampleRate, r.NumberOfChannels))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// mediaPublisher serves a hang broadcast from hubs: one for the catalog
// (one group per update, its latest group to each new subscription) and one
// per rendition (groups from keyframes; the first subscription gets the
// groups kept, so nothing published before a relay subscribed is lost).
type mediaPublisher struct {
	mu      sync.Mutex
	tracks  map[string]*hub
	frames  map[string]int
	groups  map[string]int
	started map[string]bool // a group is open on the track
}

func newMediaPublisher() *mediaPublisher {
	p := &mediaPublisher{tracks: map[string]*hub{hang.CatalogTrack: newHub()}, frames: map[string]int{}, groups: map[string]int{}, started: map[string]bool{}}
	return p
}

// serve serves one subscription.
func (p *mediaPublisher) serve(tw *moqt.TrackWriter) {
	p.mu.Lock()
	h := p.tracks[string(tw.TrackName())]
	p.mu.Unlock()
	if h == nil {
		tw.CloseWithError(moqt.NotFoundError)
		return
	}
	h.ServeTrack(tw)
}

func (p *mediaPublisher) track(name string) *hub {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.tracks[name]
	if h == nil {
		h = newHub()
		h.backlog = true
		p.tracks[name] = h
	}
	return h
}

// catalog publishes a catalog update as a group of one frame.
func (p *mediaPublisher) catalog(c *hang.Catalog) {
	if c.Video != nil {
		for name := range c.Video.Renditions {
			p.track(name)
		}
	}
	if c.Audio != nil {
		for name := range c.Audio.Renditions {
			p.track(name)
		}
	}
	b, err := json.Marshal(c)
	if err != nil { // the catalog's types always marshal
		panic(err)
	}
	h := p.track(hang.CatalogTrack)
	h.startGroup()
	h.write(&moqt.Frame{Payload: b})
	h.finishGroup()
}

// frame publishes a frame in the legacy container; a key frame starts a
// group (every IDR; for audio, every 200 ms: media.AudioGroupDuration).
func (p *mediaPublisher) frame(f media.Frame) {
	h := p.track(f.Track)
	if f.Key {
		h.startGroup()
		p.groups[f.Track]++
		p.started[f.Track] = true
	} else if !p.started[f.Track] {
		return
	}
	payload, err := hang.AppendFrame(make([]byte, 0, 8+len(f.Payload)), f.Timestamp, f.Payload)
	if err != nil {
		return // a timestamp past 2^62 µs
	}
	h.write(&moqt.Frame{Payload: payload, Timestamp: f.Timestamp})
	p.frames[f.Track]++
}

// end ends every track.
func (p *mediaPublisher) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.tracks {
		h.end()
	}
}

func (p *mediaPublisher) summary() string {
	var parts []string
	for _, name := range []string{media.VideoTrack, media.AudioTrack} {
		if _, ok := p.started[name]; ok {
			parts = append(parts, fmt.Sprintf("%s: %d frames in %d groups", name, p.frames[name], p.groups[name]))
		}
	}
	if len(parts) == 0 {
		return "no frames"
	}
	return strings.Join(parts, ", ")
}

// runSubMedia subscribes to a hang broadcast and writes it to stdout as
// MPEG-TS.
func runSubMedia(ctx context.Context, args []string) error {
	fs := newFlagSet("sub media", "sub media --url URL --broadcast PATH  > out.ts (or | ffplay -)")
	var c common
	c.register(fs)
	broadcast := fs.String("broadcast", "", "broadcast `path` to subscribe to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "broadcast"); err != nil {
		return err
	}
	path := moqt.BroadcastPath(*broadcast)
	client, err := c.client()
	if err != nil {
		return err
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	sess, err := dialAnnounced(ctx, &c, client, path)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cat, err := sess.Subscribe(ctx, path, hang.CatalogTrack, &moqt.TrackConfig{Priority: 100})
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", hang.CatalogTrack, err)
	}
	defer cat.Close()
	catalog, err := readCatalog(ctx, cat)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	vname, vcfg, aname, acfg := pickRenditions(catalog, client.Logger)
	if vcfg == nil && acfg == nil {
		return fmt.Errorf("%s has no rendition that MPEG-TS output supports (H.264 avc1/avc3, AAC mp4a.40.2, legacy container)", path)
	}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	mux, err := media.NewMuxer(out, vcfg, acfg)
	if err != nil {
		return err
	}
	w := &tsWriter{mux: mux, out: out}

	errs := make(chan error, 2)
	n := 0
	start := func(name string, prio uint8, video bool) error {
		tr, err := sess.Subscribe(ctx, path, moqt.TrackName(name), &moqt.TrackConfig{Priority: prio, Ordered: true})
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", name, err)
		}
		n++
		go func() { errs <- w.copyTrack(ctx, tr, name, video) }()
		return nil
	}
	if vcfg != nil {
		if err := start(vname, 60, true); err != nil {
			return err
		}
	}
	if acfg != nil {
		if err := start(aname, 80, false); err != nil {
			return err
		}
	}
	var picked []string
	if vcfg != nil {
		picked = append(picked, fmt.Sprintf("video %q %s", vname, vcfg.Codec))
	}
	if acfg != nil {
		picked = append(picked, fmt.Sprintf("audio %q %s", aname, acfg.Codec))
	}
	fmt.Fprintf(os.Stderr, "moq: subscribed to %s, writing MPEG-TS: %s (%s)\n", path, strings.Join(picked, ", "), sess.Version())
	var firstErr error
	for range n {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
			client.Close() // ends the other track too
		}
	}
	w.mu.Lock()
	fmt.Fprintf(os.Stderr, "moq: wrote %d video frames (%d groups) and %d audio frames\n", w.videoFrames, w.videoGroups, w.audioFrames)
	w.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return firstErr
}

// dialAnnounced dials and waits until path is announced.
func dialAnnounced(ctx context.Context, c *common, client *moqt.Client, path moqt.BroadcastPath) (*moqt.Session, error) {
	target, err := c.target()
	if err != nil {
		return nil, err
	}
	sess, err := client.Dial(ctx, target, nil)
	if err != nil {
		return nil, err
	}
	ar, err := sess.AcceptAnnounce(ctx, path)
	if err != nil {
		return nil, err
	}
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			return nil, fmt.Errorf("waiting for %s to be announced: %w", path, err)
		}
		if a.BroadcastPath() == moqt.BroadcastPath(path.String()) && a.IsActive() {
			return sess, nil
		}
	}
}

// readCatalog reads the first frame of the catalog track's next group.
func readCatalog(ctx context.Context, tr *moqt.TrackReader) (*hang.Catalog, error) {
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", hang.CatalogTrack, err)
	}
	defer gr.CancelRead(moqt.CancelledError)
	f, err := gr.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", hang.CatalogTrack, err)
	}
	return hang.ParseCatalog(f.Payload)
}

// pickRenditions picks the first video and the first audio rendition (by
// track name) that the MPEG-TS muxer supports, logging the others.
func pickRenditions(c *hang.Catalog, log *slog.Logger) (vname string, vcfg *hang.VideoConfig, aname string, acfg *hang.AudioConfig) {
	if c.Video != nil {
		for _, name := range sortedKeys(c.Video.Renditions) {
			r := c.Video.Renditions[name]
			if err := media.CheckVideo(r); err != nil {
				log.Warn("moq: skipping video rendition", "track", name, "reason", err)
				continue
			}
			if vcfg == nil {
				vname, vcfg = name, &r
			}
		}
	}
	if c.Audio != nil {
		for _, name := range sortedKeys(c.Audio.Renditions) {
			r := c.Audio.Renditions[name]
			if err := media.CheckAudio(r); err != nil {
				log.Warn("moq: skipping audio rendition", "track", name, "reason", err)
				continue
			}
			if acfg == nil {
				aname, acfg = name, &r
			}
		}
	}
	return
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tsWriter writes the frames of the subscribed tracks through one muxer,
// in the order they arrive.
type tsWriter struct {
	mu          sync.Mutex
	mux         *media.Muxer
	out         *bufio.Writer
	videoFrames int
	videoGroups int
	audioFrames int
}

// copyTrack writes a track's frames until it ends: the first frame of each
// video group is its keyframe.
func (w *tsWriter) copyTrack(ctx context.Context, tr *moqt.TrackReader, name string, video bool) error {
	defer tr.Close()
	first := true
	for {
		gr, err := tr.AcceptGroup(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("track %s: %w", name, err)
		}
		for i := 0; ; i++ {
			f, err := gr.ReadFrame()
			if err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "moq: track %s group %d: %v\n", name, gr.GroupSequence(), err)
				}
				break
			}
			ts, payload, err := hang.ParseFrame(f.Payload)
			if err != nil || len(payload) == 0 {
				continue // malformed, or an empty marker frame
			}
			if first {
				first = false
				kind := "audio"
				if video {
					kind = "video"
				}
				fmt.Fprintf(os.Stderr, "moq: receiving %s track %q (first frame at %d µs)\n", kind, name, ts)
			}
			if err := w.write(ts, payload, video, i == 0); err != nil {
				gr.CancelRead(moqt.CancelledError)
				return err
			}
		}
	}
}

func (w *tsWriter) write(ts uint64, payload []byte, video, key bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if video {
		err = w.mux.WriteVideo(ts, payload, key)
		w.videoFrames++
		if key {
			w.videoGroups++
		}
	} else {
		err = w.mux.WriteAudio(ts, payload)
		w.audioFrames++
	}
	if err == nil {
		err = w.out.Flush()
	}
	if err != nil {
		return fmt.Errorf("writing MPEG-TS: %w", err)
	}
	return nil
}
