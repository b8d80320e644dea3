package soak

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// drawPlot draws the run as four stacked charts over time (throughput,
// latency, every agent's memory, every agent's history length and data
// dir size) into base.svg and base.png.
func drawPlot(samples []sample, base string) error {
	series := func(get func(sample) float64) plotter.XYs {
		xy := make(plotter.XYs, len(samples))
		for i, s := range samples {
			xy[i].X, xy[i].Y = s.T, get(s)
		}
		return xy
	}
	agent := func(i int, get func(agentSample) float64) plotter.XYs {
		return series(func(s sample) float64 {
			if i < len(s.Agents) {
				return get(s.Agents[i])
			}
			return 0
		})
	}
	var names []string
	if len(samples) > 0 {
		for _, a := range samples[0].Agents {
			names = append(names, a.Name)
		}
	}
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }

	charts := []struct {
		title, y string
		lines    []any // name, XYs, name, XYs, …
	}{
		{"Throughput", "ops/s", []any{"all ops", series(func(s sample) float64 { return s.OpsPerS })}},
		{"Latency", "ms", []any{
			"p50", series(func(s sample) float64 { return s.P50Ms }),
			"p99", series(func(s sample) float64 { return s.P99Ms }),
		}},
		{"Memory", "MB", nil},
		{"History and data", "changes (k) / MB", nil},
	}
	for i, n := range names {
		charts[2].lines = append(charts[2].lines,
			n+" RSS", agent(i, func(a agentSample) float64 { return mb(a.RSS) }),
			n+" heap", agent(i, func(a agentSample) float64 { return mb(a.Heap) }))
		charts[3].lines = append(charts[3].lines,
			n+" history (k)", agent(i, func(a agentSample) float64 { return float64(a.History) / 1000 }),
			n+" data dir MB", agent(i, func(a agentSample) float64 { return mb(a.DataDir) }))
	}

	plots := make([][]*plot.Plot, len(charts))
	for i, c := range charts {
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = "seconds"
		p.Y.Label.Text = c.y
		p.Y.Min = 0
		p.Legend.Top = true
		if err := plotutil.AddLines(p, c.lines...); err != nil {
			return fmt.Errorf("%s: %w", c.title, err)
		}
		plots[i] = []*plot.Plot{p}
	}
	const w, h = 24 * vg.Centimeter, 40 * vg.Centimeter
	svg := vgsvg.New(w, h)
	png := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}
	for _, c := range []vg.CanvasWriterTo{svg, png} {
		dc := draw.New(c)
		tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadY: vg.Centimeter / 2}
		canvases := plot.Align(plots, tiles, dc)
		for i := range plots {
			plots[i][0].Draw(canvases[i][0])
		}
	}
	for ext, c := range map[string]vg.CanvasWriterTo{".svg": svg, ".png": png} {
		if err := writeTo(base+ext, c); err != nil {
			return err
		}
	}
	return nil
}

func writeTo(path string, c vg.CanvasWriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
