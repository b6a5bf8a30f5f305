package simulate

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

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
	if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, scenario+"-downloads.png")); err != nil {
		return fmt.Errorf("simulate: chart: %w", err)
	}

	u := plot.New()
	u.Title.Text = scenario + ": fixed seeders' upload (first seed)"
	u.X.Label.Text = "minute"
	u.Y.Label.Text = "pieces uploaded per minute"
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
	if err := u.Save(16*vg.Centimeter, 10*vg.Centimeter, filepath.Join(dir, scenario+"-seeders.png")); err != nil {
		return fmt.Errorf("simulate: chart: %w", err)
	}
	return nil
}
