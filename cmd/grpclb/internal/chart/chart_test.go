package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scaleUp mimics a lab run: two backends share the load until three more
// are added at t=3s; if rise >= 0 the new ones get traffic from then on.
func scaleUp(title string, rise time.Duration, seed uint64) Panel {
	const buckets, bucket = 24, 500 * time.Millisecond
	rng := rand.New(rand.NewPCG(seed, 1))
	names := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3 (added)", "127.0.0.4 (added)", "127.0.0.5 (added)"}
	p := Panel{
		Title:   title,
		Bucket:  bucket,
		YLabel:  "RPC/s",
		Markers: []Marker{{At: 3 * time.Second, Label: "3 backends added"}},
	}
	for i, n := range names {
		s := Series{Name: n, Dashed: i >= 2, Values: make([]float64, buckets)}
		for b := range s.Values {
			t := time.Duration(b) * bucket
			shifted := rise >= 0 && t >= rise
			switch {
			case i < 2 && shifted:
				s.Values[b] = 40 + rng.Float64()*6 - 3
			case i < 2:
				s.Values[b] = 100 + rng.Float64()*8 - 4
			case shifted:
				s.Values[b] = 40 + rng.Float64()*6 - 3
			}
		}
		p.Series = append(p.Series, s)
	}
	return p
}

func sampleChart() Chart {
	return Chart{
		Title: "Scale-up from 2 to 5 backends at t=3s: RPCs per backend",
		Panels: []Panel{
			scaleUp("dns+round_robin", -1, 1),
			scaleUp("dnspoll+round_robin", 5*time.Second, 2),
			scaleUp("static+round_robin", -1, 3),
			scaleUp("xds+round_robin", 3*time.Second, 4),
		},
	}
}

// TestSample writes the sample chart to the files named in $CHART_SAMPLE
// (comma separated), e.g. CHART_SAMPLE=/tmp/chart-sample.png,/tmp/chart-sample.svg.
func TestSample(t *testing.T) {
	paths := os.Getenv("CHART_SAMPLE")
	if paths == "" {
		t.Skip("CHART_SAMPLE not set")
	}
	for _, p := range strings.Split(paths, ",") {
		if err := sampleChart().WriteFile(p); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", p)
	}
}

func escaped(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// walkXML decodes the whole document and returns its character data.
func walkXML(t *testing.T, doc []byte) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse as XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
			text.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("root element is %q, want svg", root)
	}
	return text.String()
}

func vals(v ...float64) []float64 { return v }

// drawn names a series that has something finite to draw in a panel.
type drawn struct {
	panel int
	name  string
}

func TestRender(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	many := Panel{Title: "many", Bucket: time.Second}
	for i := range 30 {
		many.Series = append(many.Series, Series{Name: "backend-" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Values: vals(float64(i), float64(30-i))})
	}
	crowded := Panel{Title: "crowded", Bucket: time.Second, Series: []Series{{Name: "s", Values: vals(1, 2, 3)}}}
	for i := range 30 {
		crowded.Markers = append(crowded.Markers, Marker{At: time.Duration(i) * 100 * time.Millisecond, Label: "event " + string(rune('A'+i))})
	}
	tests := []struct {
		name  string
		chart Chart
		drawn []drawn // series whose colour must show in their panel's plot
	}{
		{name: "sample", chart: sampleChart(), drawn: []drawn{{0, "127.0.0.1"}, {0, "127.0.0.2"}, {1, "127.0.0.5 (added)"}, {3, "127.0.0.3 (added)"}}},
		{name: "escaping", chart: Chart{
			Title: `<script>alert("x")</script> & 'more'`,
			Panels: []Panel{{
				Title:   "a<b & c>d",
				YLabel:  `"quoted" & <y>`,
				Bucket:  time.Second,
				Series:  []Series{{Name: "x<y>&\"'z", Values: vals(1, 2, 3)}, {Name: "ctl\x00\x1b\nchars ü 日本", Values: vals(3, 2, 1), Dashed: true}},
				Markers: []Marker{{At: time.Second, Label: "]]> <!-- &amp;"}},
			}},
		}, drawn: []drawn{{0, "x<y>&\"'z"}, {0, "ctl\x00\x1b\nchars ü 日本"}}},
		{name: "empty panel", chart: Chart{Panels: []Panel{{}}}},
		{name: "empty series", chart: Chart{Title: "t", Panels: []Panel{{Title: "p", Series: []Series{{Name: "none"}}}}}},
		{name: "zero values", chart: Chart{Panels: []Panel{{Title: "zeros", Bucket: time.Second, Series: []Series{{Name: "z", Values: vals(0, 0, 0, 0)}}}}}, drawn: []drawn{{0, "z"}}},
		{name: "nan and inf", chart: Chart{Panels: []Panel{{Title: "gaps", Bucket: time.Second, Series: []Series{
			{Name: "gappy", Values: vals(nan, 5, inf, 7, 8, -inf, nan)},
			{Name: "all nan", Values: vals(nan, nan)},
			{Name: "all inf", Values: vals(inf, -inf), Dashed: true},
		}}}}, drawn: []drawn{{0, "gappy"}}},
		{name: "single bucket", chart: Chart{Panels: []Panel{{Bucket: 500 * time.Millisecond, Series: []Series{{Name: "one", Values: vals(42)}}}}}, drawn: []drawn{{0, "one"}}},
		{name: "sub-pixel buckets", chart: Chart{Panels: []Panel{{
			Bucket:  time.Millisecond,
			Series:  []Series{{Name: "blip", Values: vals(7, 8, 9)}},
			Markers: []Marker{{At: 100 * time.Second, Label: "end"}},
		}}}, drawn: []drawn{{0, "blip"}}},
		{name: "zero bucket", chart: Chart{Panels: []Panel{{Series: []Series{{Name: "nob", Values: vals(1, 2)}}}}}, drawn: []drawn{{0, "nob"}}},
		{name: "markers only", chart: Chart{Panels: []Panel{{Title: "m", Markers: []Marker{
			{At: 2 * time.Second, Label: "late"}, {At: -time.Second, Label: "before"}, {At: 2 * time.Second, Label: "same moment"}, {At: 0},
		}}}}},
		{name: "negative values", chart: Chart{Panels: []Panel{{Bucket: time.Second, Series: []Series{{Name: "neg", Values: vals(-5, 3, -1, 10)}}}}}, drawn: []drawn{{0, "neg"}}},
		{name: "huge values", chart: Chart{Panels: []Panel{{Bucket: time.Second, Series: []Series{{Name: "huge", Values: vals(math.MaxFloat64, 0, -math.MaxFloat64)}}}}}, drawn: []drawn{{0, "huge"}}},
		{name: "tiny values", chart: Chart{Panels: []Panel{{Bucket: time.Second, Series: []Series{{Name: "tiny", Values: vals(5e-324, 0, 1e-300)}}}}}, drawn: []drawn{{0, "tiny"}}},
		{name: "legend overflow and long names", chart: Chart{Panels: []Panel{many, {Title: "long", Bucket: time.Second, Series: []Series{
			{Name: strings.Repeat("very-long-backend-name-", 5), Values: vals(1, 2)},
		}}}}},
		{name: "crowded markers", chart: Chart{Panels: []Panel{crowded}}, drawn: []drawn{{0, "s"}}},
		{name: "long texts", chart: Chart{
			Title: strings.Repeat("a very long chart title ", 20),
			Panels: []Panel{{
				Title:   strings.Repeat("a long panel title ", 10),
				Bucket:  time.Second,
				Series:  []Series{{Name: "s", Values: vals(1, 2, 3)}},
				Markers: []Marker{{At: 1500 * time.Millisecond, Label: strings.Repeat("a long marker label ", 10)}},
			}},
		}, drawn: []drawn{{0, "s"}}},
		{name: "lab style", chart: func() Chart {
			c := sampleChart()
			c.Panels[1].Series = append(c.Panels[1].Series, Series{Name: "failed", Values: vals(0, 0, 0, 0, 0, 0, 5, 20, 3)})
			return c
		}(), drawn: []drawn{{1, "failed"}, {0, "127.0.0.1"}}},
		{name: "three panels", chart: Chart{Title: "odd", Panels: []Panel{
			{Title: "a", Bucket: time.Second, Series: []Series{{Name: "s", Values: vals(1, 2)}}},
			{Title: "b", Bucket: 2 * time.Second, Series: []Series{{Name: "s", Values: vals(2, 1)}}},
			{Title: "c", Bucket: time.Second, Series: []Series{{Name: "t", Values: vals(1, 1, 1, 1, 1)}}},
		}}, drawn: []drawn{{0, "s"}, {1, "s"}, {2, "t"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newLayout(tt.chart)
			if err != nil {
				t.Fatal(err)
			}

			// SVG: well-formed, with every text escaped.
			var svg bytes.Buffer
			if err := tt.chart.WriteSVG(&svg); err != nil {
				t.Fatal(err)
			}
			text := walkXML(t, svg.Bytes())
			want := []string{tt.chart.Title}
			for _, p := range tt.chart.Panels {
				want = append(want, p.Title, p.YLabel)
				for _, s := range p.Series {
					want = append(want, s.Name)
				}
				for _, m := range p.Markers {
					if m.At >= 0 {
						want = append(want, m.Label)
					}
				}
			}
			for _, w := range want {
				if w == "" {
					continue
				}
				if !bytes.Contains(svg.Bytes(), []byte(escaped(w))) {
					t.Errorf("SVG lacks escaped %q", w)
				}
				if !strings.ContainsRune(w, 0) && !strings.Contains(text, w) {
					t.Errorf("SVG text lacks %q", w)
				}
			}

			// PNG: decodes, has the layout's size, shows the series.
			var pngBuf bytes.Buffer
			if err := tt.chart.WritePNG(&pngBuf); err != nil {
				t.Fatal(err)
			}
			if dir := os.Getenv("CHART_DUMP"); dir != "" { // for looking at
				name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
				_ = os.WriteFile(name+".png", pngBuf.Bytes(), 0o644)
				_ = os.WriteFile(name+".svg", svg.Bytes(), 0o644)
			}
			img, err := png.Decode(&pngBuf)
			if err != nil {
				t.Fatalf("PNG does not decode: %v", err)
			}
			if got, want := img.Bounds(), image.Rect(0, 0, l.width, l.height); got != want {
				t.Fatalf("PNG bounds %v, want %v", got, want)
			}
			for _, d := range tt.drawn {
				c := l.colors[d.name]
				if n := countColor(img, plotRect(l, d.panel), c); n == 0 {
					t.Errorf("panel %d: no pixel of %q's colour %v in the plot area", d.panel, d.name, c)
				}
			}

			// Deterministic output.
			var svg2, png2 bytes.Buffer
			if err := tt.chart.WriteSVG(&svg2); err != nil {
				t.Fatal(err)
			}
			if err := tt.chart.WritePNG(&png2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(svg.Bytes(), svg2.Bytes()) {
				t.Error("SVG output differs between runs")
			}
			var png1 bytes.Buffer
			_ = tt.chart.WritePNG(&png1)
			if !bytes.Equal(png1.Bytes(), png2.Bytes()) {
				t.Error("PNG output differs between runs")
			}
		})
	}
}

func plotRect(l *layout, panel int) image.Rectangle {
	x, y := l.panelOrigin(panel)
	x0, y0 := int(x+l.plotX), int(y+plotTop)
	return image.Rect(x0, y0-1, x0+plotW+2, y0+plotH+2)
}

func countColor(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestColorsConsistentAcrossPanels(t *testing.T) {
	c := Chart{Panels: []Panel{
		{Bucket: time.Second, Series: []Series{{Name: "a", Values: vals(1, 2)}, {Name: "b", Values: vals(2, 1)}}},
		{Bucket: time.Second, Series: []Series{{Name: "b", Values: vals(1, 1)}, {Name: "c", Values: vals(3, 3)}}},
	}}
	l, err := newLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	if l.colors["a"] == l.colors["b"] || l.colors["b"] == l.colors["c"] || l.colors["a"] == l.colors["c"] {
		t.Errorf("distinct names share a colour: %v", l.colors)
	}
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for panel := range 2 {
		if countColor(img, plotRect(l, panel), l.colors["b"]) == 0 {
			t.Errorf("panel %d does not draw b in its colour", panel)
		}
	}
	if countColor(img, plotRect(l, 0), l.colors["c"]) != 0 {
		t.Error("panel 0 has c's colour but no c")
	}
}

func TestLegend(t *testing.T) {
	a := Series{Name: "a", Values: vals(1)}
	b := Series{Name: "b", Values: vals(2)}
	bDashed := Series{Name: "b", Values: vals(2), Dashed: true}
	tests := []struct {
		name   string
		panels []Panel
		shared []string // names in the shared legend; nil for per-panel legends
	}{
		{"one panel", []Panel{{Series: []Series{a, b}}}, nil},
		{"same series", []Panel{{Series: []Series{a, b}}, {Series: []Series{a, b}}}, []string{"a", "b"}},
		{"union", []Panel{{Series: []Series{b}}, {Series: []Series{a, b}}}, []string{"b", "a"}},
		{"styles differ", []Panel{{Series: []Series{a, b}}, {Series: []Series{a, bDashed}}}, nil},
		{"no series", []Panel{{}, {}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newLayout(Chart{Panels: tt.panels})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range l.legend {
				got = append(got, e.s.Name)
			}
			if l.shared != (tt.shared != nil) || strings.Join(got, ",") != strings.Join(tt.shared, ",") {
				t.Errorf("shared=%v legend %q, want %q", l.shared, got, tt.shared)
			}
		})
	}
}

func TestSharedYScale(t *testing.T) {
	c := Chart{Panels: []Panel{
		{Bucket: time.Second, Series: []Series{{Name: "small", Values: vals(1, 2)}}},
		{Bucket: time.Second, Series: []Series{{Name: "big", Values: vals(180, 190)}}},
	}}
	l, err := newLayout(c)
	if err != nil {
		t.Fatal(err)
	}
	if l.y.lo != 0 || l.y.hi < 190 || l.y.hi > 250 {
		t.Errorf("y axis [%v, %v], want [0, ~200]", l.y.lo, l.y.hi)
	}
}

func TestNoPanels(t *testing.T) {
	for _, c := range []Chart{{}, {Title: "only a title", Panels: []Panel{}}} {
		if err := c.WriteSVG(io.Discard); !errors.Is(err, errNoPanels) {
			t.Errorf("WriteSVG: got %v, want %v", err, errNoPanels)
		}
		if err := c.WritePNG(io.Discard); !errors.Is(err, errNoPanels) {
			t.Errorf("WritePNG: got %v, want %v", err, errNoPanels)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterError(t *testing.T) {
	c := sampleChart()
	if err := c.WriteSVG(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WriteSVG: got %v, want the writer's error", err)
	}
	if err := c.WritePNG(failWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("WritePNG: got %v, want the writer's error", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	good := Chart{Title: "t", Panels: []Panel{{Bucket: time.Second, Series: []Series{{Name: "s", Values: vals(1, 2, 3)}}}}}
	tests := []struct {
		file    string
		chart   Chart
		magic   string // start of the file, "" if no file should exist
		wantErr string // substring of the error, "" for none
	}{
		{file: "a.svg", chart: good, magic: "<?xml"},
		{file: "b.png", chart: good, magic: "\x89PNG\r\n\x1a\n"},
		{file: "c.SVG", chart: good, magic: "<?xml"},
		{file: "d.Png", chart: good, magic: "\x89PNG"},
		{file: "e.jpg", chart: good, wantErr: `".jpg"`},
		{file: "f.svg.gz", chart: good, wantErr: `".gz"`},
		{file: "noext", chart: good, wantErr: "unsupported file extension"},
		{file: "g.svg", chart: Chart{}, wantErr: "no panels"},
		{file: "h.png", chart: Chart{}, wantErr: "no panels"},
		{file: "missing-dir/i.svg", chart: good, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			err := tt.chart.WriteFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %s", err, tt.wantErr)
				}
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a failed WriteFile", tt.file)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte(tt.magic)) {
				t.Errorf("%s starts with %q, want %q", tt.file, b[:min(len(b), 8)], tt.magic)
			}
		})
	}
}

func TestFormatNum(t *testing.T) {
	tests := []struct {
		v, step float64
		want    string
	}{
		{0, 20, "0"},
		{40, 20, "40"},
		{0.75, 0.25, "0.75"},
		{0.5, 0.25, "0.5"},
		{0.3, 0.1, "0.3"},
		{7500, 2500, "7.5k"},
		{10000, 2500, "10k"},
		{3e6, 1e6, "3M"},
		{-40, 20, "-40"},
		{1.5, 0, "1.5"},
	}
	for _, tt := range tests {
		if got := formatNum(tt.v, tt.step); got != tt.want {
			t.Errorf("formatNum(%v, %v) = %q, want %q", tt.v, tt.step, got, tt.want)
		}
	}
}
