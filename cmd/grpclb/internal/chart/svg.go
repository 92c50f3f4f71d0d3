package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"math"
	"strconv"
)

// svgCanvas writes SVG elements into a buffer. All text goes through
// xml.EscapeText; attributes only ever hold numbers and colours made here.
type svgCanvas struct {
	buf bytes.Buffer
}

func newSVG(w, h int) *svgCanvas {
	s := &svgCanvas{}
	fmt.Fprintf(&s.buf, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" `+
		`font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12">`+"\n", w, h, w, h)
	return s
}

func (s *svgCanvas) finish() []byte {
	s.buf.WriteString("</svg>\n")
	return s.buf.Bytes()
}

// num formats a coordinate with at most one decimal.
func num(v float64) string {
	r := math.Round(v*10) / 10
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func (s *svgCanvas) escape(t string) {
	xml.EscapeText(&s.buf, []byte(t)) // writes to a bytes.Buffer: cannot fail
}

func (s *svgCanvas) rect(x, y, w, h float64, fill color.RGBA) {
	fmt.Fprintf(&s.buf, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n",
		num(x), num(y), num(w), num(h), hex(fill))
}

func (s *svgCanvas) polyline(pts []point, st stroke) {
	s.buf.WriteString(`<polyline points="`)
	for i, p := range pts {
		if i > 0 {
			s.buf.WriteByte(' ')
		}
		s.buf.WriteString(num(p.x))
		s.buf.WriteByte(',')
		s.buf.WriteString(num(p.y))
	}
	fmt.Fprintf(&s.buf, `" fill="none" stroke="%s" stroke-width="%s"`, hex(st.col), num(st.width))
	if st.width > 1 {
		s.buf.WriteString(` stroke-linejoin="round"`)
	} else {
		// Hairlines sit on pixel centres so they stay crisp.
		s.buf.WriteString(` shape-rendering="crispEdges"`)
	}
	if st.dash > 0 {
		fmt.Fprintf(&s.buf, ` stroke-dasharray="%s %s"`, num(st.dash), num(st.gap))
		if st.phase != 0 {
			fmt.Fprintf(&s.buf, ` stroke-dashoffset="%s"`, num(st.phase))
		}
	}
	s.buf.WriteString("/>\n")
}

func (s *svgCanvas) dot(x, y, r float64, fill color.RGBA) {
	fmt.Fprintf(&s.buf, `<circle cx="%s" cy="%s" r="%s" fill="%s"/>`+"\n", num(x), num(y), num(r), hex(fill))
}

func (s *svgCanvas) text(x, y float64, t string, a anchor, col color.RGBA, bold bool) {
	fmt.Fprintf(&s.buf, `<text x="%s" y="%s" fill="%s"`, num(x), num(y), hex(col))
	switch a {
	case anchorMiddle:
		s.buf.WriteString(` text-anchor="middle"`)
	case anchorEnd:
		s.buf.WriteString(` text-anchor="end"`)
	}
	if bold {
		s.buf.WriteString(` font-weight="bold"`)
	}
	s.buf.WriteString(` xml:space="preserve">`)
	s.escape(t)
	s.buf.WriteString("</text>\n")
}

func (s *svgCanvas) group(title string) {
	s.buf.WriteString("<g><title>")
	s.escape(title)
	s.buf.WriteString("</title>\n")
}

func (s *svgCanvas) endGroup() { s.buf.WriteString("</g>\n") }
