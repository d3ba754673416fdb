package ietf

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// The draft-17+ variable-length integer ("vi64") is not QUIC's: the number of
// leading 1 bits of the first byte gives the length, and any 64-bit value
// fits.
//
//	0xxxxxxx                1 byte,  7 bits
//	10xxxxxx + 1            2 bytes, 14 bits
//	110xxxxx + 2            3 bytes, 21 bits
//	1110xxxx + 3            4 bytes, 28 bits
//	11110xxx + 4            5 bytes, 35 bits
//	111110xx + 5            6 bytes, 42 bits
//	1111110x + 6            7 bytes, 49 bits (draft 18+; invalid on 17)
//	11111110 + 7            8 bytes, 56 bits
//	11111111 + 8            9 bytes, 64 bits

// VarintLen returns the number of bytes [AppendVarint] writes for x.
func VarintLen(x uint64) int {
	switch {
	case x < 1<<7:
		return 1
	case x < 1<<14:
		return 2
	case x < 1<<21:
		return 3
	case x < 1<<28:
		return 4
	case x < 1<<35:
		return 5
	case x < 1<<42:
		return 6
	case x < 1<<56:
		return 8
	}
	return 9
}

// AppendVarint appends x as a vi64 in the shortest form valid on every
// draft. It never writes the 7-byte form (draft 18+ only): values of 42 to
// 56 bits take 8 bytes, as @moq/net writes them.
func AppendVarint(b []byte, x uint64) []byte {
	n := VarintLen(x)
	switch n {
	case 8:
		return append(b, 0xfe, byte(x>>48), byte(x>>40), byte(x>>32), byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
	case 9:
		return binary.BigEndian.AppendUint64(append(b, 0xff), x)
	}
	// n-1 leading ones, a zero, then the value's top bits in the first byte.
	prefix := byte(0xff << (9 - n))
	b = append(b, prefix|byte(x>>(8*(n-1))))
	for i := n - 2; i >= 0; i-- {
		b = append(b, byte(x>>(8*i)))
	}
	return b
}

// ParseVarint decodes one vi64 from the start of b as version v reads it,
// returning its value and the number of bytes it occupied. It returns an
// error wrapping [ErrTruncated] if b is empty or ends inside the varint, and
// [ErrInvalid] for the 7-byte form (first byte 0xfc or 0xfd) on draft 17.
// Non-shortest encodings are accepted.
func ParseVarint(b []byte, v Version) (x uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("ietf: varint: %w", ErrTruncated)
	}
	n, err = varintSize(b[0], v)
	if err != nil {
		return 0, 0, err
	}
	if len(b) < n {
		return 0, 0, fmt.Errorf("ietf: varint: %w", ErrTruncated)
	}
	if n < 8 {
		x = uint64(b[0] & (0x7f >> (n - 1)))
	}
	for _, c := range b[1:n] {
		x = x<<8 | uint64(c)
	}
	return x, n, nil
}

// varintSize returns the length of the vi64 whose first byte is first, or
// ErrInvalid for the 7-byte form on draft 17.
func varintSize(first byte, v Version) (int, error) {
	ones := bits.LeadingZeros8(^first)
	switch {
	case ones <= 5:
		return ones + 1, nil
	case ones == 6:
		if v == Draft17 {
			return 0, fmt.Errorf("ietf: varint: %w (first byte 0x%02x is not a draft-17 code point)", ErrInvalid, first)
		}
		return 7, nil
	case ones == 7:
		return 8, nil
	}
	return 9, nil
}
