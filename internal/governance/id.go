package governance

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// idGen makes identifiers that sort in creation order: after the prefix,
// 10 base32 characters of the millisecond clock, then 10 of randomness
// (50 bits), which a second identifier of the same millisecond increments.
// Consecutive checks, actions and outcomes then land on the same pages of
// their tables' B-trees, so a commit writes a few pages rather than one
// per index at random, and an account's checks list in creation order.
type idGen struct {
	mu   sync.Mutex
	ms   int64
	rand uint64 // 50 bits
}

var ids idGen

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

func (g *idGen) next(prefix string) string {
	g.mu.Lock()
	ms := time.Now().UnixMilli()
	if ms <= g.ms {
		ms = g.ms // the clock went back or stood still: stay monotonic
		g.rand++
		if g.rand >= 1<<50 { // a million IDs in one millisecond: borrow the next
			ms++
			g.rand = randomBits()
		}
	} else {
		g.rand = randomBits()
	}
	g.ms = ms
	r := g.rand
	g.mu.Unlock()
	b := make([]byte, 0, len(prefix)+21)
	b = append(b, prefix...)
	b = append(b, '_')
	b = appendBase32(b, uint64(ms), 10)
	return string(appendBase32(b, r, 10))
}

// randomBits returns 50 random bits, the top one clear so that increments
// within a millisecond do not overflow.
func randomBits() uint64 {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return binary.BigEndian.Uint64(raw[:]) & (1<<49 - 1)
}

// appendBase32 appends the low 5n bits of v as n base32 characters, most
// significant first.
func appendBase32(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, idAlphabet[(v>>(5*uint(i)))&31])
	}
	return b
}
