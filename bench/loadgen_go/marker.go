package main

import "bytes"

var textKey = []byte(`"text":`)

// scanMarkers calls hit(k) for every `"text":"RUN:K:` in a raw server frame (one per
// event, arrays included): the same matches as bench/loadgen/_common.py `text_marker`.
// `prefix` is RUN + ":". The receivers' hot path, so no JSON decoding. It returns the number
// of hits; a frame without any is decoded as events by the caller.
func scanMarkers(payload, prefix []byte, hit func(k int)) int {
	hits := 0
	for pos := 0; ; {
		i := bytes.Index(payload[pos:], textKey)
		if i < 0 {
			return hits
		}
		p := pos + i + len(textKey)
		pos = p
		for p < len(payload) && isSpace(payload[p]) {
			p++
		}
		if p >= len(payload) || payload[p] != '"' || !bytes.HasPrefix(payload[p+1:], prefix) {
			continue
		}
		p += 1 + len(prefix)
		k, digits := 0, 0
		for p < len(payload) && payload[p] >= '0' && payload[p] <= '9' {
			k = k*10 + int(payload[p]-'0')
			p++
			digits++
		}
		if digits == 0 || p >= len(payload) || payload[p] != ':' {
			continue
		}
		hit(k)
		hits++
		pos = p + 1
	}
}

// isSpace is the ASCII whitespace of Python's bytes regex `\s`.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// paddedText is RUN:K: followed by x up to `size` bytes, like `padded_text`.
func paddedText(prefix string, size int) string {
	if pad := size - len(prefix); pad > 0 {
		return prefix + string(bytes.Repeat([]byte{'x'}, pad))
	}
	return prefix
}
