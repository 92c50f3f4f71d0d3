// Package chart renders small time-series line charts of per-backend RPC
// counts, as produced by the load-balancing lab (grpclb lab).
//
// A [Chart] is a grid of [Panel]s (two columns when there is more than one
// panel), one per strategy run. Each panel plots its [Series] over time
// buckets and draws its [Marker]s as labelled vertical lines, for example
// the moment backends were added. All panels share one time axis and one
// value axis, so that they compare honestly, and a series name has the same
// colour in every panel: "127.0.0.4" is the same colour whichever strategy
// is shown. When every name is drawn the same way (dashed or not) in every
// panel, one legend under the title serves all panels; otherwise each panel
// has its own legend at its right.
//
// Values are drawn as steps: a bucket's value is held across the bucket, so
// a change shows exactly at the bucket boundary where it happened rather
// than leaning into the bucket before. The lowest value sits a few pixels
// above the time axis, so that lines at zero stay visible. Dashed series
// are drawn after solid ones and with staggered dash phases, so dashed lines
// lying on top of each other (three added backends all at zero, say) show as
// alternating colours rather than as one line, with the line beneath
// showing through every few dashes.
//
// Values that are NaN or ±Inf are gaps: they are neither drawn nor used for
// scaling. A stretch of values too short in time to be seen as a line is
// drawn as a dot. Text too long for its place is cut with "..."; the SVG
// keeps the full text as a tooltip.
//
// Charts are written as SVG ([Chart.WriteSVG]), with no dependencies, or as
// PNG ([Chart.WritePNG]), rasterised by this package with text from
// golang.org/x/image/font/basicfont. Both formats share one layout, and the
// same input always yields the same bytes.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Series is one line: a value per bucket (e.g. RPCs per second of one backend).
type Series struct {
	Name   string    // legend label, e.g. "127.0.0.4 (added)"
	Values []float64 // one per bucket; bucket i covers [i*Bucket, (i+1)*Bucket)
	Dashed bool      // drawn dashed (e.g. backends added later)
}

// Marker is a vertical line at a moment, e.g. "3 backends added".
type Marker struct {
	At    time.Duration
	Label string
}

// Panel is one small chart: one strategy's run.
//
// A Bucket of zero or less is taken as one second. Each value is plotted at
// the middle of its bucket.
type Panel struct {
	Title   string
	Bucket  time.Duration // width of a bucket, e.g. 500ms
	YLabel  string        // e.g. "RPC/s"
	Series  []Series
	Markers []Marker
}

// Chart is a grid of panels sharing one title.
type Chart struct {
	Title  string
	Panels []Panel
}

var errNoPanels = errors.New("chart: chart has no panels")

// WriteFile renders the chart to path; the format follows the extension,
// .svg or .png (in any case). Any other extension is an error naming it.
// The chart is rendered completely before the file is created, so an error
// leaves no partial file behind.
func (c Chart) WriteFile(path string) error {
	ext := filepath.Ext(path)
	var buf strings.Builder
	switch strings.ToLower(ext) {
	case ".svg":
		if err := c.WriteSVG(&buf); err != nil {
			return err
		}
	case ".png":
		if err := c.WritePNG(&buf); err != nil {
			return err
		}
	default:
		return fmt.Errorf("chart: unsupported file extension %q in %q (want .svg or .png)", ext, path)
	}
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// Layout constants, in pixels. Text metrics follow basicfont.Face7x13,
// which the PNG renderer uses and the SVG renderer approximates with a
// 12px monospace font.
const (
	charW         = 7  // advance of one character
	ascent        = 11 // baseline to top of capitals
	margin        = 16 // around the whole chart
	titleH        = 30 // chart title row, when there is a title
	colGap        = 28 // between panel columns
	rowGap        = 22 // between panel rows
	plotW         = 420
	plotH         = 210
	plotTop       = 40 // panel top to plot top: panel title and y label rows
	plotBelo      = 38 // plot bottom to panel bottom: tick labels and x label
	tickLen       = 4
	zeroLift      = 5  // plot bottom to the lowest value
	legendDX      = 18 // plot right edge to legend
	swatchW       = 24 // legend line sample
	legendRH      = 17 // legend row height
	legendGap     = 22 // between entries of the shared legend
	maxLabel      = 28 // legend labels longer than this (in runes) are shortened
	maxCols       = 2
	maxMarkerRows = 8 // rows of marker labels at the top of a plot
	dashLen       = 6 // length of a dash in a dashed series
	minYTick      = 5 // target number of value ticks
	minXTick      = 8 // target number of time ticks
)

var (
	colBackground = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colText       = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colSubtle     = color.RGBA{0x66, 0x66, 0x66, 0xff}
	colAxis       = color.RGBA{0x44, 0x44, 0x44, 0xff}
	colGrid       = color.RGBA{0xe6, 0xe6, 0xe6, 0xff}
	colMarker     = color.RGBA{0x55, 0x55, 0x55, 0xff}
)

// palette is the D3 "category10" palette: saturated, distinct colours that
// read well on white. Series names are given colours in order of first
// appearance across the chart, cycling when there are more than ten.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

type point struct{ x, y float64 }

// stroke describes how a line is drawn. A dashed line is on for dash
// pixels, off for gap pixels, starting phase pixels into the pattern.
type stroke struct {
	col   color.RGBA
	width float64
	dash  float64 // 0 for a solid line
	gap   float64
	phase float64
}

type anchor int

const (
	anchorStart anchor = iota
	anchorMiddle
	anchorEnd
)

// canvas is what the layout draws on; one implementation writes SVG, the
// other rasterises into an image. Coordinates are pixels from the top left;
// text is positioned by its baseline.
type canvas interface {
	rect(x, y, w, h float64, fill color.RGBA)
	polyline(pts []point, s stroke)
	dot(x, y, r float64, fill color.RGBA)
	text(x, y float64, s string, a anchor, col color.RGBA, bold bool)
	// group/endGroup bracket the drawing of one series; title names it.
	group(title string)
	endGroup()
}

// axis is a linear scale with tick positions and labels.
type axis struct {
	lo, hi float64
	ticks  []float64
	labels []string
}

// legendEntry is one entry of the shared legend, placed at x, baseline y.
type legendEntry struct {
	x, y float64
	s    Series
}

// layout holds everything about the chart's geometry that does not depend
// on the output format.
type layout struct {
	c             Chart
	width, height int
	cols          int
	panelW        float64
	panelH        float64
	plotX         float64 // panel left to plot left
	legendChars   int     // widest legend label, in runes
	shared        bool    // one legend (in legend) serves all panels
	legend        []legendEntry
	top           float64 // chart top to first panel row
	x, y          axis    // x in seconds
	colors        map[string]color.RGBA
}

func newLayout(c Chart) (*layout, error) {
	if len(c.Panels) == 0 {
		return nil, errNoPanels
	}
	l := &layout{c: c, colors: map[string]color.RGBA{}}

	// Colours by first appearance; data ranges.
	yMin, yMax := 0.0, 0.0
	xMax := 0.0
	hasSeries := false
	for _, p := range c.Panels {
		b := bucketSeconds(p)
		for _, s := range p.Series {
			hasSeries = true
			if _, ok := l.colors[s.Name]; !ok {
				l.colors[s.Name] = palette[len(l.colors)%len(palette)]
			}
			l.legendChars = max(l.legendChars, utf8.RuneCountInString(shorten(s.Name)))
			for _, v := range s.Values {
				if finite(v) {
					yMin = math.Min(yMin, v)
					yMax = math.Max(yMax, v)
				}
			}
			xMax = math.Max(xMax, float64(len(s.Values))*b)
		}
		for _, m := range p.Markers {
			xMax = math.Max(xMax, m.At.Seconds())
		}
	}
	if !finite(xMax) || xMax <= 0 {
		xMax = 1
	}
	l.x = timeAxis(xMax)
	l.y = valueAxis(yMin, yMax)

	yLabelChars := 0
	for _, s := range l.y.labels {
		yLabelChars = max(yLabelChars, utf8.RuneCountInString(s))
	}
	l.plotX = float64(yLabelChars*charW + tickLen + 6)
	// Room for half of the last time label, centred on the plot's edge.
	l.panelW = l.plotX + plotW + textWidth(l.x.labels[len(l.x.labels)-1])/2 + 2
	l.shared = len(c.Panels) > 1 && hasSeries && consistentStyles(c.Panels)
	if hasSeries && !l.shared {
		l.panelW = l.plotX + plotW + legendDX + swatchW + 6 + float64(l.legendChars*charW)
	}
	l.panelH = plotTop + plotH + plotBelo
	if c.Title != "" {
		l.top = titleH
	}
	l.cols = min(maxCols, len(c.Panels))
	rows := (len(c.Panels) + l.cols - 1) / l.cols
	inner := float64(l.cols)*l.panelW + float64(l.cols-1)*colGap
	if l.shared {
		// One legend for all panels, under the title, wrapped to the width.
		x, y := 0.0, l.top
		for _, s := range legendSeries(c.Panels) {
			w := swatchW + 6 + textWidth(shorten(s.Name))
			if x > 0 && x+w > inner {
				x, y = 0, y+legendRH
			}
			l.legend = append(l.legend, legendEntry{x: margin + x, y: margin + y + ascent, s: s})
			x += w + legendGap
		}
		l.top = y + legendRH + 12
	}
	l.width = int(math.Ceil(2*margin + inner))
	l.height = int(math.Ceil(2*margin + l.top + float64(rows)*l.panelH + float64(rows-1)*rowGap))
	return l, nil
}

// consistentStyles reports whether each series name is drawn the same way
// (dashed or not) in every panel, so that one legend serves all panels.
func consistentStyles(ps []Panel) bool {
	dashed := map[string]bool{}
	for _, p := range ps {
		for _, s := range p.Series {
			if d, ok := dashed[s.Name]; ok && d != s.Dashed {
				return false
			}
			dashed[s.Name] = s.Dashed
		}
	}
	return true
}

// legendSeries lists each series name once, in order of first appearance.
func legendSeries(ps []Panel) []Series {
	var out []Series
	seen := map[string]bool{}
	for _, p := range ps {
		for _, s := range p.Series {
			if !seen[s.Name] {
				seen[s.Name] = true
				out = append(out, Series{Name: s.Name, Dashed: s.Dashed})
			}
		}
	}
	return out
}

// unit clamps v to [0, 1], taking NaN as 0.
func unit(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return math.Min(v, 1)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func bucketSeconds(p Panel) float64 {
	if p.Bucket <= 0 {
		return 1
	}
	return p.Bucket.Seconds()
}

// shorten cuts legend labels to maxLabel runes.
func shorten(s string) string {
	t, _ := fit(s, maxLabel*charW)
	return t
}

// fit cuts s, marking the cut with "...", so that it is at most width
// pixels wide; it reports whether it cut.
func fit(s string, width float64) (string, bool) {
	n := max(3, int(width/charW))
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	return string([]rune(s)[:n-3]) + "...", true
}

// fitText draws s cut to width; a cut text keeps its full wording in the
// SVG as a tooltip.
func fitText(cv canvas, x, y, width float64, s string, a anchor, col color.RGBA, bold bool) {
	t, cut := fit(s, width)
	if cut {
		cv.group(s)
	}
	cv.text(x, y, t, a, col, bold)
	if cut {
		cv.endGroup()
	}
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s) * charW) }

// niceStep returns a round step (1, 2, 2.5 or 5 times a power of ten) of at
// least raw, or 0 if there is none.
func niceStep(raw float64) float64 {
	if !(raw > 0) || !finite(raw) {
		return 0
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	if !(mag > 0) || !finite(mag) {
		return 0
	}
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// valueAxis covers [lo, hi] (which include zero) with round ticks and a
// little headroom above the data.
func valueAxis(lo, hi float64) axis {
	if !finite(hi - lo) {
		// Keep the span finite; values beyond the axis are clamped to it.
		lo, hi = math.Max(lo, -math.MaxFloat64/4), math.Min(hi, math.MaxFloat64/4)
	}
	if hi <= lo {
		hi = lo + 1 // no data, or all zero
	} else if h := hi + (hi-lo)*0.05; finite(h - lo) {
		hi = h
	}
	step := niceStep((hi - lo) / minYTick)
	if step > 0 {
		l2, h2 := math.Floor(lo/step)*step, math.Ceil(hi/step-1e-9)*step
		if finite(h2-l2) && h2 > l2 && (h2-l2)/step <= 4*minYTick {
			a := axis{lo: l2, hi: h2}
			n := int(math.Round((h2 - l2) / step))
			for i := 0; i <= n; i++ {
				v := l2 + float64(i)*step
				a.ticks = append(a.ticks, v)
				a.labels = append(a.labels, formatNum(v, step))
			}
			return a
		}
	}
	// Degenerate range (huge or tiny numbers): just label the ends.
	return axis{lo: lo, hi: hi, ticks: []float64{lo, hi}, labels: []string{formatNum(lo, 0), formatNum(hi, 0)}}
}

// timeAxis covers [0, hi] seconds exactly, with round ticks inside.
func timeAxis(hi float64) axis {
	a := axis{lo: 0, hi: hi}
	step := niceStep(hi / minXTick)
	if step <= 0 || hi/step > 4*minXTick {
		a.ticks = []float64{0, hi}
		a.labels = []string{"0", formatNum(hi, 0)}
		return a
	}
	n := int(math.Floor(hi/step + 1e-9))
	for i := 0; i <= n; i++ {
		v := float64(i) * step
		a.ticks = append(a.ticks, v)
		a.labels = append(a.labels, formatNum(v, step))
	}
	return a
}

// formatNum formats a tick value; step is the tick spacing (0 if unknown)
// and decides the precision. Large steps use k/M/G suffixes.
func formatNum(v, step float64) string {
	if v == 0 {
		return "0"
	}
	if step <= 0 || math.Abs(v) >= 1e13 || step < 1e-6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	suffix := ""
	for _, s := range []struct {
		div float64
		sfx string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if step >= s.div {
			v, step, suffix = v/s.div, step/s.div, s.sfx
			break
		}
	}
	d := 0
	for ; d < 9; d++ {
		p := math.Pow(10, float64(d))
		if math.Abs(step*p-math.Round(step*p)) < 1e-6*step*p {
			break
		}
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s + suffix
}

// draw renders the whole chart onto cv.
func (l *layout) draw(cv canvas) {
	cv.rect(0, 0, float64(l.width), float64(l.height), colBackground)
	if l.c.Title != "" {
		fitText(cv, margin, margin+ascent+2, float64(l.width-2*margin), l.c.Title, anchorStart, colText, true)
	}
	for _, e := range l.legend {
		l.legendItem(cv, e.x, e.y, e.s)
	}
	for i, p := range l.c.Panels {
		x, y := l.panelOrigin(i)
		l.drawPanel(cv, p, x, y)
	}
}

// panelOrigin is the top left corner of panel i.
func (l *layout) panelOrigin(i int) (x, y float64) {
	col, row := i%l.cols, i/l.cols
	return margin + float64(col)*(l.panelW+colGap), margin + l.top + float64(row)*(l.panelH+rowGap)
}

func (l *layout) drawPanel(cv canvas, p Panel, ox, oy float64) {
	px, py := ox+l.plotX, oy+plotTop // plot area top left
	sx := func(sec float64) float64 { return px + unit((sec-l.x.lo)/(l.x.hi-l.x.lo))*plotW }
	// The lowest value sits a little above the x axis, so that lines at
	// zero stay visible instead of merging into the axis.
	sy := func(v float64) float64 {
		return py + plotH - zeroLift - unit((v-l.y.lo)/(l.y.hi-l.y.lo))*(plotH-zeroLift)
	}
	solid := func(c color.RGBA) stroke { return stroke{col: c, width: 1} }

	if p.Title != "" {
		fitText(cv, ox, oy+ascent, l.panelW, p.Title, anchorStart, colText, true)
	}
	if p.YLabel != "" {
		fitText(cv, px-tickLen-6, oy+plotTop-10, plotW, p.YLabel, anchorStart, colSubtle, false)
	}

	// Grid, ticks and tick labels.
	for i, v := range l.y.ticks {
		y := math.Round(sy(v))
		cv.polyline([]point{{px, y}, {px + plotW, y}}, solid(colGrid))
		cv.polyline([]point{{px - tickLen, y}, {px, y}}, solid(colAxis))
		cv.text(px-tickLen-3, y+4, l.y.labels[i], anchorEnd, colText, false)
	}
	for i, v := range l.x.ticks {
		x := math.Round(sx(v))
		cv.polyline([]point{{x, py}, {x, py + plotH}}, solid(colGrid))
		cv.polyline([]point{{x, py + plotH}, {x, py + plotH + tickLen}}, solid(colAxis))
		cv.text(x, py+plotH+tickLen+ascent+2, l.x.labels[i], anchorMiddle, colText, false)
	}
	cv.text(px+plotW/2, py+plotH+plotBelo-4, "time (s)", anchorMiddle, colSubtle, false)
	cv.polyline([]point{{px, py}, {px, py + plotH}, {px + plotW, py + plotH}}, solid(colAxis))

	// Markers behind the data, labels later on top of it.
	type placed struct{ lo, hi float64 }
	var rows [][]placed
	type label struct {
		x, y    float64
		s, full string // shown and full text
		a       anchor
	}
	var labels []label
	for i, m := range p.Markers {
		sec := m.At.Seconds()
		if sec < l.x.lo || sec > l.x.hi {
			continue
		}
		x := math.Round(sx(sec))
		cv.polyline([]point{{x, py}, {x, py + plotH}}, stroke{col: colMarker, width: 1, dash: 4, gap: 3})
		if m.Label == "" {
			continue
		}
		// Right of the line if it fits, else left, else the roomier side, cut.
		right, left := px+plotW-x-6, x-6-px
		t, _ := fit(m.Label, right)
		lx, a := x+4, anchorStart
		if textWidth(m.Label) > right && (textWidth(m.Label) <= left || left > right) {
			t, _ = fit(m.Label, left)
			lx, a = x-4, anchorEnd
		}
		w := textWidth(t)
		lo, hi := x+2, x+6+w
		if a == anchorEnd {
			lo, hi = x-6-w, x-2
		}
		r := 0
		for ; r < len(rows); r++ {
			free := true
			for _, q := range rows[r] {
				if lo < q.hi+4 && q.lo < hi+4 {
					free = false
					break
				}
			}
			if free {
				break
			}
		}
		if r == len(rows) && r == maxMarkerRows {
			r = i % maxMarkerRows // crowded: overlap rather than leave the plot
		} else if r == len(rows) {
			rows = append(rows, nil)
		}
		rows[r] = append(rows[r], placed{lo, hi})
		labels = append(labels, label{lx, py + 4 + ascent + float64(r)*15, t, m.Label, a})
	}

	// Series.
	nDashed := 0
	for _, s := range p.Series {
		if s.Dashed {
			nDashed++
		}
	}
	b := bucketSeconds(p)
	// Solid lines first: dashed ones on top let them show through the gaps.
	order := make([]Series, 0, len(p.Series))
	for _, dashed := range []bool{false, true} {
		for _, s := range p.Series {
			if s.Dashed == dashed {
				order = append(order, s)
			}
		}
	}
	iDashed := 0
	for _, s := range order {
		st := stroke{col: l.colors[s.Name], width: 2}
		if s.Dashed {
			// Staggered dashes: n dashed lines on top of each other take
			// turns, and every (n+1)th slot shows what lies beneath.
			st.dash, st.gap = dashLen, dashLen*float64(nDashed)
			st.phase = float64(iDashed) * dashLen
			iDashed++
		}
		cv.group(s.Name)
		var run []point
		flush := func() {
			switch {
			case len(run) == 0:
			case run[len(run)-1].x-run[0].x < 2:
				// Too short a stretch of time to see as a line.
				cv.dot(run[0].x, run[0].y, 2.5, st.col)
			default:
				cv.polyline(run, st)
			}
			run = run[:0]
		}
		// Steps: each value is held across its bucket, so a change shows
		// exactly at the bucket boundary where it happened.
		add := func(q point) {
			n := len(run)
			switch {
			case n > 0 && run[n-1] == q:
				return
			case n > 1 && run[n-1].y == q.y && run[n-2].y == q.y:
				run[n-1] = q // extend a horizontal stretch
				return
			}
			run = append(run, q)
		}
		for i, v := range s.Values {
			if !finite(v) {
				flush()
				continue
			}
			y := sy(v)
			add(point{sx(float64(i) * b), y})
			add(point{sx(float64(i+1) * b), y})
		}
		flush()
		cv.endGroup()
	}

	for _, lb := range labels {
		w := textWidth(lb.s)
		bx := lb.x - 2
		if lb.a == anchorEnd {
			bx = lb.x - w - 2
		}
		cv.rect(bx, lb.y-ascent-1, w+4, ascent+4, colBackground)
		if lb.s != lb.full {
			cv.group(lb.full)
		}
		cv.text(lb.x, lb.y, lb.s, lb.a, colMarker, false)
		if lb.s != lb.full {
			cv.endGroup()
		}
	}

	if l.shared {
		return
	}
	// Legend, right of the plot; rows that do not fit are summarised.
	lx := px + plotW + legendDX
	maxRows := int(plotH / legendRH)
	for i, s := range p.Series {
		y := py + float64(i)*legendRH + ascent
		if i == maxRows-1 && len(p.Series) > maxRows {
			cv.text(lx, y, fmt.Sprintf("+%d more", len(p.Series)-i), anchorStart, colSubtle, false)
			break
		}
		l.legendItem(cv, lx, y, s)
	}
}

// legendItem draws a line sample and the series name at baseline y.
func (l *layout) legendItem(cv canvas, x, y float64, s Series) {
	st := stroke{col: l.colors[s.Name], width: 3}
	if s.Dashed {
		st.dash, st.gap = 4, 3
	}
	cv.polyline([]point{{x, y - 4}, {x + swatchW, y - 4}}, st)
	cv.text(x+swatchW+6, y, shorten(s.Name), anchorStart, colText, false)
}

// WriteSVG writes the chart as a standalone SVG document.
func (c Chart) WriteSVG(w io.Writer) error {
	l, err := newLayout(c)
	if err != nil {
		return err
	}
	sv := newSVG(l.width, l.height)
	l.draw(sv)
	if _, err := w.Write(sv.finish()); err != nil {
		return fmt.Errorf("chart: writing SVG: %w", err)
	}
	return nil
}
