package simulate

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart size: the plot's own area, and the strip beside it that holds the
// legend (outside the data, so no legend ever hides a line).
const (
	chartWidth  = 16 * vg.Centimeter
	chartHeight = 10 * vg.Centimeter
	legendPad   = 3 * vg.Millimeter
)

// savePNG draws p with its legend in a strip to the right of the plot
// rather than over the data, and writes the PNG to path.
func savePNG(p *plot.Plot, path string) error {
	legend := p.Legend
	p.Legend = plot.NewLegend()
	legend.Top, legend.Left = true, true
	probe := draw.New(vgimg.New(chartWidth, chartHeight))
	r := legend.Rectangle(probe)
	stripWidth := r.Max.X - r.Min.X + 2*legendPad
	img := vgimg.New(chartWidth+stripWidth, chartHeight)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	p.Draw(draw.Crop(dc, 0, -stripWidth, 0, 0))
	// Line the legend's top up with the plot's title band.
	legend.Draw(draw.Crop(dc, chartWidth+legendPad, -legendPad, 0, -p.Title.TextStyle.Height(p.Title.Text)-legendPad))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("simulate: chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("simulate: chart %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("simulate: chart %s: %w", path, err)
	}
	return nil
}

// writeCharts draws the download-time distribution of every tracker (all
// seeds pooled, as a CDF) and, for scenarios with fixed seeders, their
// upload over time in the first seed's run.
func writeCharts(dir, scenario string, trackers []Tracker, runs map[Tracker][]*Result) error {
	p := plot.New()
	p.Title.Text = scenario + ": download times"
	p.X.Label.Text = "seconds from joining to complete"
	p.Y.Label.Text = "share of leechers done"
	var lines []any
	for _, tr := range trackers {
		var all []float64
		for _, r := range runs[tr] {
			all = append(all, r.Download...)
		}
		if len(all) == 0 {
			continue
		}
		slices.Sort(all)
		pts := make(plotter.XYs, len(all))
		for i, d := range all {
			pts[i] = plotter.XY{X: d, Y: float64(i+1) / float64(len(all))}
		}
		lines = append(lines, string(tr), pts)
	}
	if err := plotutil.AddLines(p, lines...); err != nil {
		return fmt.Errorf("simulate: chart: %w", err)
	}
	if err := savePNG(p, filepath.Join(dir, scenario+"-downloads.png")); err != nil {
		return err
	}

	u := plot.New()
	u.Title.Text = scenario + ": fixed seeders' upload (first seed)"
	u.X.Label.Text = "minute"
	u.Y.Label.Text = "pieces uploaded per minute"
	u.Y.Min = 0
	drawn := false
	for ti, tr := range trackers {
		if len(runs[tr]) == 0 {
			continue
		}
		for si, series := range runs[tr][0].SeederUpload {
			pts := make(plotter.XYs, len(series))
			for m, v := range series {
				pts[m] = plotter.XY{X: float64(m), Y: v}
			}
			l, err := plotter.NewLine(pts)
			if err != nil {
				return fmt.Errorf("simulate: chart: %w", err)
			}
			l.Color = plotutil.Color(ti)
			l.Dashes = plotutil.Dashes(si)
			if ti == 0 {
				l.Color = color.RGBA{R: 200, A: 255}
			}
			u.Add(l)
			u.Legend.Add(fmt.Sprintf("%s seeder %d", tr, si+1), l)
			drawn = true
		}
	}
	if !drawn {
		return nil
	}
	return savePNG(u, filepath.Join(dir, scenario+"-seeders.png"))
}
