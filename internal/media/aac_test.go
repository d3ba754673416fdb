package media

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// ADTS headers as ffmpeg's aac encoder writes them (-f adts), with the
// AudioSpecificConfig each is equivalent to.
var adtsVectors = []struct {
	name     string
	header   string
	asc      string
	rate, ch int
	frameLen int
}{
	// The first frames of `ffmpeg -f lavfi -i sine=f=440:r=48000 -c:a aac
	// -b:a 32k -ac 2 -f adts` and of the same at r=44100 with -ac 1.
	{"48k stereo", "fff14c800bbffc", "1190", 48000, 2, 93},
	{"44.1k mono", "fff15040141ffc", "1208", 44100, 1, 160},
}

func TestParseADTS(t *testing.T) {
	for _, v := range adtsVectors {
		h, err := ParseADTS(unhex(t, v.header))
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := hex.EncodeToString(h.ASC()); got != v.asc || h.SampleRate() != v.rate || h.ChannelCount() != v.ch || h.FrameLen != v.frameLen || h.HeaderLen != 7 {
			t.Fatalf("%s: ASC %s %d Hz %d ch length %d header %d; want %s %d %d %d 7", v.name, got, h.SampleRate(), h.ChannelCount(), h.FrameLen, h.HeaderLen, v.asc, v.rate, v.ch, v.frameLen)
		}
		// Rebuilt from the ASC, the header is the same but for the
		// buffer fullness, which AppendADTS sets to "variable".
		asc, err := ParseASC(h.ASC())
		if err != nil {
			t.Fatal(err)
		}
		got, err := asc.AppendADTS(nil, h.FrameLen-7)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := ParseADTS(got)
		if err != nil || h2 != h {
			t.Fatalf("%s: rebuilt header %x parses as %+v (%v), want %+v", v.name, got, h2, err, h)
		}
	}
}

func TestParseADTSErrors(t *testing.T) {
	for _, c := range []struct{ name, hex string }{
		{"short", "fff14c800b"},
		{"no sync", "eff14c800bbffc"},
		{"layer 1", "fff34c800bbffc"},
		{"frequency index 13", "fff174800bbffc"},
		{"channel configuration 0", "fff14c000bbffc"},
		{"length shorter than header", "fff14c8000dffc"},
		{"two raw data blocks", "fff14c800bbffd"},
	} {
		if _, err := ParseADTS(unhex(t, c.hex)); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestSplitADTS(t *testing.T) {
	asc, _ := ParseASC(unhex(t, "1190"))
	var pes []byte
	var want [][]byte
	for i := range 3 {
		payload := bytes.Repeat([]byte{byte(i + 1)}, 10+i)
		pes, _ = asc.AppendADTS(pes, len(payload))
		pes = append(pes, payload...)
		want = append(want, payload)
	}
	cfg, frames, err := splitADTS(pes)
	if err != nil || len(frames) != 3 || hex.EncodeToString(cfg.ASC()) != "1190" {
		t.Fatalf("split: %d frames, ASC %x, %v", len(frames), cfg.ASC(), err)
	}
	for i := range want {
		if !bytes.Equal(frames[i], want[i]) {
			t.Fatalf("frame %d: %x, want %x", i, frames[i], want[i])
		}
	}
	// Every truncation but at a frame boundary is an error.
	for n := 1; n < len(pes); n++ {
		_, fr, err := splitADTS(pes[:n])
		if err == nil && n != 17 && n != 17+18 {
			t.Fatalf("cut to %d bytes: %d frames, no error", n, len(fr))
		}
	}
	// A change of configuration inside one PES is an error.
	mono, _ := ParseASC(unhex(t, "1188"))
	mixed, _ := mono.AppendADTS(append([]byte(nil), pes[:17]...), 1)
	if _, _, err := splitADTS(append(mixed, 0)); err == nil {
		t.Fatal("a configuration change inside a PES was accepted")
	}
}

func TestParseASC(t *testing.T) {
	c, err := ParseASC(unhex(t, "1190"))
	if err != nil || c != (AudioSpecificConfig{ObjectType: 2, FreqIndex: 3, Channels: 2}) {
		t.Fatalf("1190: %+v %v", c, err)
	}
	for _, bad := range []string{"", "12", "2b90" /* object type 5 */, "1790" /* frequency index 15 */, "1180" /* channels 0 */} {
		if _, err := ParseASC(unhex(t, bad)); err == nil {
			t.Errorf("ParseASC(%s): no error", bad)
		}
	}
	if _, err := c.AppendADTS(nil, 1<<13); err == nil {
		t.Error("AppendADTS took a frame too large for 13 bits")
	}
}

func FuzzADTS(f *testing.F) {
	for _, v := range adtsVectors {
		f.Add(append(unhex(f, v.header), make([]byte, v.frameLen-7)...))
	}
	f.Add(unhex(f, "1190"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if cfg, frames, err := splitADTS(b); err == nil {
			n := 0
			for _, fr := range frames {
				n += len(fr) + cfg.HeaderLen
			}
			if n > len(b) {
				t.Fatalf("frames of %d bytes out of %d", n, len(b))
			}
		}
		if c, err := ParseASC(b); err == nil {
			hdr, err := c.AppendADTS(nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ParseADTS(hdr)
			if err != nil || h.FrameLen != 107 || h.ObjectType != c.ObjectType || h.FreqIndex != c.FreqIndex || h.Channels != c.Channels {
				t.Fatalf("ASC %x → ADTS %x → %+v, %v", b[:2], hdr, h, err)
			}
		}
	})
}
