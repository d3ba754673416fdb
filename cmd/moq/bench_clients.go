package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/quic-go/quic-go/quicvarint"
)

// runBenchClients is the clients process of `moq bench`: the publisher
// (relay mode) and the subscribers. It announces the measurement window on
// stderr ("MEASURE_START", "MEASURE_END") and prints a clientResult as JSON.
func runBenchClients(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("moq bench-clients", flag.ContinueOnError)
	mode := fs.String("mode", "relay", "relay or baseline")
	addr := fs.String("addr", "", "server host:port")
	transport := fs.String("transport", "quic", "quic or webtransport")
	n := fs.Int("subscribers", 100, "subscribers")
	warmup := fs.Duration("warmup", 3*time.Second, "warm-up")
	duration := fs.Duration("duration", 5*time.Second, "measurement")
	var tr traffic
	fs.IntVar(&tr.bitrate, "bitrate", 1_000_000, "bytes per second")
	fs.IntVar(&tr.frameSize, "frame-size", 1000, "bytes per frame")
	fs.IntVar(&tr.groupFrames, "group-frames", 30, "frames per group")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the clients to `file`")
	maxLatency := fs.Duration("max-latency", 0, "latency bound the subscribers ask for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	recs := make([]*recorder, *n)
	for i := range recs {
		recs[i] = &recorder{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	connected := 0
	if *mode == "baseline" {
		connected, err = baselineSubscribers(ctx, &wg, *addr, recs)
		if err == nil {
			err = baselinePublisher(ctx, &wg, *addr, tr)
		}
	} else {
		connected, err = relayClients(ctx, &wg, *addr, *transport, tr, recs, *maxLatency)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "WARMUP")
	time.Sleep(*warmup)
	start := time.Now()
	end := start.Add(*duration)
	for _, r := range recs {
		r.setWindow(start, end)
	}
	fmt.Fprintln(os.Stderr, "MEASURE_START")
	time.Sleep(*duration)
	fmt.Fprintln(os.Stderr, "MEASURE_END")
	time.Sleep(time.Second) // frames sent in the window may still arrive
	res := summarize(recs, *duration)
	res.Connected = connected
	cancel()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func relayClients(ctx context.Context, wg *sync.WaitGroup, addr, transport string, tr traffic, recs []*recorder, maxLatency time.Duration) (int, error) {
	client := &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	context.AfterFunc(ctx, func() { client.Close() })
	url := "moqt://" + addr + "/"
	switch transport {
	case "webtransport":
		url = "https://" + addr + "/"
	case "websocket":
		url = "ws://" + addr + "/" // the relay's HTTP listener, on TCP of the same port
	}
	// The publisher: one track, written at the traffic's rate to whoever
	// subscribes (the relay, once).
	var mu sync.Mutex
	subs := map[chan []byte]struct{}{}
	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, "/bench", func(tw *moqt.TrackWriter) {
		ch := make(chan []byte, 4096)
		mu.Lock()
		subs[ch] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(subs, ch)
			mu.Unlock()
		}()
		var gw *moqt.GroupWriter
		var seq uint64
		n := 0
		for {
			var p []byte
			select {
			case p = <-ch:
			case <-tw.Context().Done():
				return
			}
			if n%tr.groupFrames == 0 {
				if gw != nil {
					gw.Close()
				}
				var err error
				if gw, err = tw.OpenGroup(context.Background(), seq); err != nil {
					return
				}
				seq++
			}
			n++
			if err := gw.WriteFrame(context.Background(), &moqt.Frame{Payload: p}); err != nil {
				return
			}
		}
	})
	pubClient := &moqt.Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	context.AfterFunc(ctx, func() { pubClient.Close() })
	if _, err := pubClient.Dial(ctx, "moqt://"+addr+"/", mux); err != nil {
		return 0, fmt.Errorf("publisher: %w", err)
	}
	stop := make(chan struct{})
	context.AfterFunc(ctx, func() { close(stop) })
	wg.Go(func() {
		tr.pace(stop, func(_ uint64, p []byte) {
			mu.Lock()
			for ch := range subs {
				select {
				case ch <- p:
				default:
				}
			}
			mu.Unlock()
		})
	})
	// Wait until the relay knows the broadcast.
	time.Sleep(200 * time.Millisecond)

	connected := 0
	var cmu sync.Mutex
	sem := make(chan struct{}, 16)
	var dialWG sync.WaitGroup
	var firstErr error
	for _, rec := range recs {
		sem <- struct{}{}
		dialWG.Go(func() {
			defer func() { <-sem }()
			sess, err := client.Dial(ctx, url, nil)
			var trk *moqt.TrackReader
			if err == nil {
				trk, err = sess.Subscribe(context.Background(), "/bench", "t", &moqt.TrackConfig{MaxLatency: maxLatency})
			}
			cmu.Lock()
			defer cmu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			connected++
			wg.Go(func() { readTrack(ctx, trk, rec) })
		})
	}
	dialWG.Wait()
	if connected == 0 {
		return 0, fmt.Errorf("no subscriber connected: %w", firstErr)
	}
	return connected, nil
}

func readTrack(ctx context.Context, tr *moqt.TrackReader, rec *recorder) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		gr, err := tr.AcceptGroup(ctx)
		if err != nil {
			return
		}
		wg.Go(func() {
			for {
				f, err := gr.ReadFrame()
				if err != nil {
					if err != io.EOF {
						rec.groupDropped()
					}
					return
				}
				rec.frame(f.Payload)
			}
		})
	}
}

// baselinePublisher sends the traffic to the baseline forwarder over QUIC:
// one uni stream per group, each frame a varint length and the payload,
// written once per frame as the relay's publisher does.
func baselinePublisher(ctx context.Context, wg *sync.WaitGroup, addr string, tr traffic) error {
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{baselinePubALPN}}, &quic.Config{})
	if err != nil {
		return fmt.Errorf("baseline publisher: %w", err)
	}
	context.AfterFunc(ctx, func() { conn.CloseWithError(0, "") })
	stop := make(chan struct{})
	context.AfterFunc(ctx, func() { close(stop) })
	wg.Go(func() {
		var str quic.SendStream
		var buf []byte
		n := 0
		tr.pace(stop, func(_ uint64, p []byte) {
			if n%tr.groupFrames == 0 {
				if str != nil {
					str.Close()
				}
				var err error
				if str, err = conn.OpenUniStreamSync(ctx); err != nil {
					str = nil
					return
				}
			}
			n++
			if str == nil {
				return
			}
			buf = quicvarint.Append(buf[:0], uint64(len(p)))
			buf = append(buf, p...)
			str.Write(buf)
		})
	})
	return nil
}

func baselineSubscribers(ctx context.Context, wg *sync.WaitGroup, addr string, recs []*recorder) (int, error) {
	connected := 0
	for _, rec := range recs {
		conn, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{baselineALPN}}, &quic.Config{})
		if err != nil {
			if connected == 0 {
				return 0, err
			}
			continue
		}
		connected++
		context.AfterFunc(ctx, func() { conn.CloseWithError(0, "") })
		wg.Go(func() {
			var sw sync.WaitGroup
			defer sw.Wait()
			for {
				str, err := conn.AcceptUniStream(ctx)
				if err != nil {
					return
				}
				sw.Go(func() {
					br := bufio.NewReader(str)
					for {
						n, err := quicvarint.Read(br)
						if err != nil {
							return
						}
						p := make([]byte, n)
						if _, err := io.ReadFull(br, p); err != nil {
							return
						}
						rec.frame(p)
					}
				})
			}
		})
	}
	return connected, nil
}
