package chart_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/grpclb/grpclb/cmd/grpclb/internal/chart"
)

func Example() {
	added := []float64{0, 0, 0, 0, 0, 0, 40, 41, 39, 40}
	c := chart.Chart{
		Title: "RPCs per backend",
		Panels: []chart.Panel{{
			Title:  "dnspoll+round_robin",
			Bucket: 500 * time.Millisecond,
			YLabel: "RPC/s",
			Series: []chart.Series{
				{Name: "127.0.0.1", Values: []float64{100, 101, 99, 100, 98, 100, 60, 59, 61, 60}},
				{Name: "127.0.0.2 (added)", Values: added, Dashed: true},
			},
			Markers: []chart.Marker{{At: 2 * time.Second, Label: "backend added"}},
		}},
	}
	var buf bytes.Buffer
	if err := c.WriteSVG(&buf); err != nil { // or c.WriteFile("lab.png")
		fmt.Println(err)
		return
	}
	fmt.Println(bytes.Contains(buf.Bytes(), []byte("127.0.0.2 (added)")))
	// Output: true
}
