package main

// Canonical JSON as docs/storage.md ("Canonical JSON") specifies it, written from that document alone:
// the service computes it with Python's json.dumps, and this is its independent reading.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// canonical returns the canonical UTF-8 bytes of a value decoded with json.Decoder.UseNumber.
func canonical(value any) ([]byte, error) {
	var out bytes.Buffer
	if err := writeCanonical(&out, value); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func writeCanonical(out *bytes.Buffer, value any) error {
	switch v := value.(type) {
	case nil:
		out.WriteString("null")
	case bool:
		out.WriteString(strconv.FormatBool(v))
	case string:
		writeString(out, v)
	case json.Number:
		text, err := canonicalNumber(string(v))
		if err != nil {
			return err
		}
		out.WriteString(text)
	case []any:
		out.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := writeCanonical(out, item); err != nil {
				return err
			}
		}
		out.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		// Go compares strings byte by byte; on UTF-8 that is code point order, as the document asks
		// (not UTF-16 order, which puts U+E000-U+FFFF after the supplementary planes).
		sort.Strings(keys)
		out.WriteByte('{')
		for i, key := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			writeString(out, key)
			out.WriteByte(':')
			if err := writeCanonical(out, v[key]); err != nil {
				return err
			}
		}
		out.WriteByte('}')
	default:
		return fmt.Errorf("not a JSON value: %T", value)
	}
	return nil
}

// writeString writes a string between quotes: `"` and `\` escaped with a backslash; backspace, form feed,
// newline, carriage return and tab as \b \f \n \r \t; other characters below U+0020 as \u00xx in lowercase
// hex; everything else as its UTF-8.
func writeString(out *bytes.Buffer, text string) {
	out.WriteByte('"')
	for _, r := range text {
		switch {
		case r == '"':
			out.WriteString(`\"`)
		case r == '\\':
			out.WriteString(`\\`)
		case r == '\b':
			out.WriteString(`\b`)
		case r == '\f':
			out.WriteString(`\f`)
		case r == '\n':
			out.WriteString(`\n`)
		case r == '\r':
			out.WriteString(`\r`)
		case r == '\t':
			out.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(out, `\u%04x`, r)
		default:
			var buf [utf8.UTFMax]byte
			out.Write(buf[:utf8.EncodeRune(buf[:], r)])
		}
	}
	out.WriteByte('"')
}

// canonicalNumber writes a JSON number literal canonically: an integer (no fraction, no exponent) in full;
// any other number as the shortest decimal that reads back as the same double, in the layout of the
// document's table.
func canonicalNumber(literal string) (string, error) {
	if !strings.ContainsAny(literal, ".eE") {
		n, ok := new(big.Int).SetString(literal, 10)
		if !ok {
			return "", fmt.Errorf("%q is not an integer", literal)
		}
		return n.String(), nil
	}
	f, err := strconv.ParseFloat(literal, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("%q is not a finite double", literal)
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0", nil
		}
		return "0.0", nil
	}
	// Shortest round-trip digits d1.d2d3…e±X, split into the digits and the decimal exponent of the first.
	shortest := strconv.FormatFloat(math.Abs(f), 'e', -1, 64)
	mantissa, exponentText, _ := strings.Cut(shortest, "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	exponent, _ := strconv.Atoi(exponentText)
	sign := ""
	if f < 0 {
		sign = "-"
	}
	if exponent < -4 || exponent >= 16 {
		text := digits[:1]
		if len(digits) > 1 {
			text += "." + digits[1:]
		}
		expSign := "+"
		if exponent < 0 {
			expSign, exponent = "-", -exponent
		}
		return fmt.Sprintf("%s%se%s%02d", sign, text, expSign, exponent), nil
	}
	if exponent < 0 {
		return sign + "0." + strings.Repeat("0", -exponent-1) + digits, nil
	}
	if len(digits) <= exponent+1 {
		return sign + digits + strings.Repeat("0", exponent+1-len(digits)) + ".0", nil
	}
	return sign + digits[:exponent+1] + "." + digits[exponent+1:], nil
}

// printCanonical writes the canonical JSON of each value on in, a line each.
func printCanonical(in io.Reader, out io.Writer) error {
	decoder := json.NewDecoder(bufio.NewReader(in))
	decoder.UseNumber()
	writer := bufio.NewWriter(out)
	defer writer.Flush()
	for {
		var value any
		if err := decoder.Decode(&value); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		text, err := canonical(value)
		if err != nil {
			return err
		}
		writer.Write(text)
		writer.WriteByte('\n')
	}
}
