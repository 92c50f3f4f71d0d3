package chart

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// maxPNGPixels bounds the size of a PNG chart (about 300 panels).
const maxPNGPixels = 1 << 26

// WritePNG writes the chart as a PNG image.
func (c Chart) WritePNG(w io.Writer) error {
	l, err := newLayout(c)
	if err != nil {
		return err
	}
	if l.width*l.height > maxPNGPixels {
		return fmt.Errorf("chart: %dx%d pixels is too large for a PNG (%d panels)", l.width, l.height, len(c.Panels))
	}
	pc := &pngCanvas{img: image.NewRGBA(image.Rect(0, 0, l.width, l.height))}
	l.draw(pc)
	if err := png.Encode(w, pc.img); err != nil {
		return fmt.Errorf("chart: writing PNG: %w", err)
	}
	return nil
}

// pngCanvas rasterises onto an RGBA image: opaque colours, no
// anti-aliasing, lines by Bresenham's algorithm stamped with a square brush.
type pngCanvas struct {
	img *image.RGBA
}

// iround rounds a coordinate to a pixel; anything far off the image (or
// NaN) is pulled in, so that no loop over pixels can run away.
func iround(v float64) int {
	if !(v > -1e6) {
		return -1e6
	}
	return int(math.Round(math.Min(v, 1e6)))
}

func (p *pngCanvas) rect(x, y, w, h float64, fill color.RGBA) {
	r := image.Rect(iround(x), iround(y), iround(x+w), iround(y+h))
	draw.Draw(p.img, r, image.NewUniform(fill), image.Point{}, draw.Src)
}

// stamp paints a size×size square brush centred (rounding up and left) on x, y.
func (p *pngCanvas) stamp(x, y, size int, c color.RGBA) {
	x0, y0 := x-size/2, y-size/2
	for dy := range size {
		for dx := range size {
			if image.Pt(x0+dx, y0+dy).In(p.img.Rect) {
				p.img.SetRGBA(x0+dx, y0+dy, c)
			}
		}
	}
}

func (p *pngCanvas) polyline(pts []point, st stroke) {
	size := max(1, iround(st.width))
	period := st.dash + st.gap
	on := func(d float64) bool {
		return st.dash <= 0 || period <= 0 || math.Mod(d+st.phase, period) < st.dash
	}
	dist := 0.0 // along the polyline, for the dash pattern
	for i := 1; i < len(pts); i++ {
		x0, y0 := iround(pts[i-1].x), iround(pts[i-1].y)
		x1, y1 := iround(pts[i].x), iround(pts[i].y)
		dx, dy := abs(x1-x0), -abs(y1-y0)
		sx, sy := sign(x1-x0), sign(y1-y0)
		n := max(dx, -dy)
		segLen := math.Hypot(float64(dx), float64(dy))
		e := dx + dy
		for k := 0; ; k++ {
			along := dist
			if n > 0 {
				along += segLen * float64(k) / float64(n)
			}
			if on(along) {
				p.stamp(x0, y0, size, st.col)
			}
			if x0 == x1 && y0 == y1 {
				break
			}
			e2 := 2 * e
			if e2 >= dy {
				e += dy
				x0 += sx
			}
			if e2 <= dx {
				e += dx
				y0 += sy
			}
		}
		dist += segLen
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func (p *pngCanvas) dot(x, y, r float64, fill color.RGBA) {
	cx, cy := iround(x), iround(y)
	ri := int(math.Ceil(r))
	for dy := -ri; dy <= ri; dy++ {
		for dx := -ri; dx <= ri; dx++ {
			if float64(dx*dx+dy*dy) <= r*r+0.5 && image.Pt(cx+dx, cy+dy).In(p.img.Rect) {
				p.img.SetRGBA(cx+dx, cy+dy, fill)
			}
		}
	}
}

func (p *pngCanvas) text(x, y float64, s string, a anchor, col color.RGBA, bold bool) {
	w := textWidth(s)
	switch a {
	case anchorMiddle:
		x -= w / 2
	case anchorEnd:
		x -= w
	}
	d := font.Drawer{Dst: p.img, Src: image.NewUniform(col), Face: basicfont.Face7x13}
	d.Dot = fixed.P(iround(x), iround(y))
	d.DrawString(s)
	if bold {
		d.Dot = fixed.P(iround(x)+1, iround(y))
		d.DrawString(s)
	}
}

func (p *pngCanvas) group(string) {}
func (p *pngCanvas) endGroup()    {}
