package media

import (
	"bytes"
	"errors"
	"fmt"
)

// H.264 NAL unit types (ITU-T H.264 Table 7-1) that the ingest looks at.
const (
	nalSlice = 1 // coded slice of a non-IDR picture
	nalIDR   = 5 // coded slice of an IDR picture
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9 // access unit delimiter
)

// nalType returns the type of a NAL unit (its header's low five bits).
func nalType(nal []byte) byte {
	if len(nal) == 0 {
		return 0
	}
	return nal[0] & 0x1f
}

// splitAnnexB returns the NAL units of an Annex B byte stream, without their
// start codes (00 00 01, or 00 00 00 01) and trailing zero bytes (a NAL unit
// never ends with 00, H.264 §7.4.1). Bytes before the first start code are
// ignored. The NAL units alias b.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1 // start of the current NAL unit
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			// Skip ahead quickly: a start code needs b[i+2] to be 0 or 1.
			if b[i+2] > 1 {
				i += 3
			} else {
				i++
			}
			continue
		}
		if start >= 0 {
			if nal := bytes.TrimRight(b[start:i], "\x00"); len(nal) > 0 {
				nals = append(nals, nal)
			}
		}
		i += 3
		start = i
	}
	if start >= 0 && start < len(b) {
		if nal := bytes.TrimRight(b[start:], "\x00"); len(nal) > 0 {
			nals = append(nals, nal)
		}
	}
	return nals
}

// appendAnnexB appends nal to b behind a four-byte start code.
func appendAnnexB(b, nal []byte) []byte {
	return append(append(b, 0, 0, 0, 1), nal...)
}

// SPS is what the ingest needs from an H.264 sequence parameter set.
type SPS struct {
	Profile     uint8 // profile_idc
	Constraints uint8 // constraint_set flags and reserved bits
	Level       uint8 // level_idc
	Width       int   // picture size after cropping, in pixels
	Height      int
	// Framerate is in frames per second, from the VUI timing information
	// (0 when the SPS has none).
	Framerate float64
}

// Codec returns the RFC 6381 / WebCodecs codec string, avc1.PPCCLL.
func (s SPS) Codec() string {
	return fmt.Sprintf("avc1.%02x%02x%02x", s.Profile, s.Constraints, s.Level)
}

// profiles whose SPS carries chroma format, bit depths and scaling lists
// (H.264 §7.3.2.1.1).
func highProfile(p uint8) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS parses an SPS NAL unit (header byte included, emulation
// prevention bytes not yet removed) far enough to know the codec string and
// the cropped picture size.
func ParseSPS(nal []byte) (SPS, error) {
	if nalType(nal) != nalSPS {
		return SPS{}, errors.New("h264: not an SPS NAL unit")
	}
	rbsp := unescapeRBSP(nal[1:])
	if len(rbsp) < 4 {
		return SPS{}, errors.New("h264: SPS too short")
	}
	s := SPS{Profile: rbsp[0], Constraints: rbsp[1], Level: rbsp[2]}
	r := &bitReader{b: rbsp, pos: 24}
	if r.ue() > 31 {
		return SPS{}, errors.New("h264: SPS id out of range")
	}
	chromaFormat := uint32(1)
	separatePlanes := false
	if highProfile(s.Profile) {
		chromaFormat = r.ue()
		if chromaFormat > 3 {
			return SPS{}, fmt.Errorf("h264: SPS chroma_format_idc %d", chromaFormat)
		}
		if chromaFormat == 3 {
			separatePlanes = r.bit() == 1
		}
		r.ue()            // bit_depth_luma_minus8
		r.ue()            // bit_depth_chroma_minus8
		r.bit()           // qpprime_y_zero_transform_bypass_flag
		if r.bit() == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chromaFormat == 3 {
				lists = 12
			}
			for i := range lists {
				if r.bit() == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(r, size)
				}
			}
		}
	}
	if r.ue() > 12 { // log2_max_frame_num_minus4
		return SPS{}, errors.New("h264: SPS log2_max_frame_num out of range")
	}
	switch pocType := r.ue(); pocType {
	case 0:
		if r.ue() > 12 { // log2_max_pic_order_cnt_lsb_minus4
			return SPS{}, errors.New("h264: SPS log2_max_pic_order_cnt_lsb out of range")
		}
	case 1:
		r.bit() // delta_pic_order_always_zero_flag
		r.se()  // offset_for_non_ref_pic
		r.se()  // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return SPS{}, errors.New("h264: SPS num_ref_frames_in_pic_order_cnt_cycle out of range")
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return SPS{}, fmt.Errorf("h264: SPS pic_order_cnt_type %d", pocType)
	}
	r.ue()  // max_num_ref_frames
	r.bit() // gaps_in_frame_num_value_allowed_flag
	widthMbs := r.ue() + 1
	heightMapUnits := r.ue() + 1
	frameMbsOnly := r.bit()
	if frameMbsOnly == 0 {
		r.bit() // mb_adaptive_frame_field_flag
	}
	r.bit() // direct_8x8_inference_flag
	var cropLeft, cropRight, cropTop, cropBottom uint32
	if r.bit() == 1 {
		cropLeft, cropRight, cropTop, cropBottom = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return SPS{}, fmt.Errorf("h264: SPS: %w", r.err)
	}
	if widthMbs > 1024 || heightMapUnits > 1024 {
		return SPS{}, fmt.Errorf("h264: SPS picture size %dx%d macroblocks out of range", widthMbs, heightMapUnits)
	}
	// Crop units (H.264 §7.4.2.1.1, equations 7-19 to 7-22).
	cropX, cropY := uint32(1), 2-frameMbsOnly
	if chromaArrayType := chromaFormat; !separatePlanes && chromaArrayType != 0 {
		subW, subH := uint32(2), uint32(2) // 4:2:0
		switch chromaFormat {
		case 2: // 4:2:2
			subH = 1
		case 3: // 4:4:4
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMbsOnly)
	}
	w := int(widthMbs*16) - int(cropX)*(int(cropLeft)+int(cropRight))
	h := int((2-frameMbsOnly)*heightMapUnits*16) - int(cropY)*(int(cropTop)+int(cropBottom))
	if w <= 0 || h <= 0 {
		return SPS{}, errors.New("h264: SPS cropping leaves no picture")
	}
	s.Width, s.Height = w, h
	if r.bit() == 1 { // vui_parameters_present_flag
		s.Framerate = vuiFramerate(r)
	}
	return s, nil
}

// vuiFramerate reads the start of vui_parameters() (H.264 §E.1.1) up to
// the timing information and returns the frame rate it gives, or 0. The
// VUI is optional for this parser: a malformed one gives 0, not an error.
func vuiFramerate(r *bitReader) float64 {
	if r.bit() == 1 { // aspect_ratio_info_present_flag
		if r.bits(8) == 255 { // aspect_ratio_idc: Extended_SAR
			r.bits(16) // sar_width
			r.bits(16) // sar_height
		}
	}
	if r.bit() == 1 { // overscan_info_present_flag
		r.bit() // overscan_appropriate_flag
	}
	if r.bit() == 1 { // video_signal_type_present_flag
		r.bits(3)         // video_format
		r.bit()           // video_full_range_flag
		if r.bit() == 1 { // colour_description_present_flag
			r.bits(24) // colour_primaries, transfer_characteristics, matrix_coefficients
		}
	}
	if r.bit() == 1 { // chroma_loc_info_present_flag
		r.ue()
		r.ue()
	}
	if r.bit() != 1 || r.err != nil { // timing_info_present_flag
		return 0
	}
	units, scale := r.bits(32), r.bits(32)
	if r.err != nil || units == 0 || scale == 0 {
		return 0
	}
	// Two ticks per frame (one per field), H.264 equation E-46 and x264's
	// convention; a whole number of hundredths is enough for a catalog.
	fps := float64(scale) / float64(2*units)
	return float64(int64(fps*100+0.5)) / 100
}

// skipScalingList reads past a scaling_list() of size coefficients
// (H.264 §7.3.2.1.1.1).
func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
			if r.err != nil {
				return
			}
		}
		if next != 0 {
			last = next
		}
	}
}

// h264Track turns the access units of one H.264 elementary stream into
// hang frames: Annex B with four-byte start codes, SPS and PPS in front of
// every IDR (the latest ones seen, inserted where the encoder left them
// out), nothing before the first IDR.
type h264Track struct {
	sps, pps []byte // latest parameter sets seen
	spsInfo  SPS
	started  bool // an IDR was seen: frames are passed on
}

// errNoParameterSets is returned for an IDR before any SPS and PPS.
var errNoParameterSets = errors.New("h264: IDR picture before any SPS and PPS")

// accessUnit rewrites one access unit (a PES payload). It reports whether
// the unit starts a group (holds an IDR slice) and returns nil for a unit to
// drop (before the first IDR, or without any slice). changed reports a new
// SPS (the catalog may change).
func (t *h264Track) accessUnit(au []byte) (out []byte, key, changed bool, err error) {
	nals := splitAnnexB(au)
	hasSPS, hasPPS, hasSlice := false, false, false
	for _, n := range nals {
		switch nalType(n) {
		case nalSPS:
			info, err := ParseSPS(n)
			if err != nil {
				return nil, false, false, err
			}
			if !bytes.Equal(n, t.sps) {
				changed = t.sps == nil || info != t.spsInfo
				t.sps, t.spsInfo = append([]byte(nil), n...), info
			}
			hasSPS = true
		case nalPPS:
			if !bytes.Equal(n, t.pps) {
				t.pps = append([]byte(nil), n...)
			}
			hasPPS = true
		case nalIDR:
			key = true
			hasSlice = true
		case nalSlice, 2, 3, 4:
			hasSlice = true
		}
	}
	if !hasSlice {
		return nil, false, changed, nil
	}
	if key {
		if t.sps == nil || t.pps == nil {
			return nil, false, changed, errNoParameterSets
		}
		t.started = true
	}
	if !t.started {
		return nil, false, changed, nil
	}
	out = make([]byte, 0, len(au)+len(t.sps)+len(t.pps)+12)
	inserted := !key || (hasSPS && hasPPS)
	for _, n := range nals {
		typ := nalType(n)
		if !inserted && (typ == nalIDR || typ == nalSPS || typ == nalPPS) {
			// The first parameter set or slice of an IDR unit that lacks
			// one: put the cached pair here (a duplicate of the one that
			// is present is harmless and keeps them in order).
			out = appendAnnexB(out, t.sps)
			out = appendAnnexB(out, t.pps)
			inserted = true
			if typ != nalIDR {
				continue
			}
		}
		out = appendAnnexB(out, n)
	}
	return out, key, changed, nil
}
