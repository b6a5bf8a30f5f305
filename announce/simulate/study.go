package simulate

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"johnlocke/modes"
)

// Default scales of the scenarios, chosen so that each run takes well
// under a minute on one core.
const (
	DefaultSurgeLeechers = 10000
	DefaultSurgeSeeders  = 4
	DefaultLargeHours    = 6
	DefaultLargePerHour  = 600
	DefaultLargeSeeders  = 3
	DefaultSmallMembers  = 30
)

// StudyConfig is one `johnlocke simulate` invocation.
type StudyConfig struct {
	// Scenario is surge, large, small or fluid.
	Scenario string
	// Trackers are the trackers to compare.
	Trackers []Tracker
	// Seed is the first seed; Seeds how many consecutive seeds to run.
	Seed  uint64
	Seeds int
	// Peers scales the scenario (surge leechers, large arrivals per hour,
	// small members); 0 takes the default.
	Peers int
	// Out, when set, is the directory for CSV files and charts.
	Out string
	// Tuning overrides the modes' constants in the johnlocke runs.
	Tuning modes.Tuning
}

// ScenarioByName builds a named scenario at scale peers (0: default).
func ScenarioByName(name string, peers int) (Scenario, error) {
	switch name {
	case "surge":
		return Surge(cmp(peers, DefaultSurgeLeechers), DefaultSurgeSeeders), nil
	case "large":
		return Large(DefaultLargeHours, float64(cmp(peers, DefaultLargePerHour)), DefaultLargeSeeders), nil
	case "small":
		n := cmp(peers, DefaultSmallMembers)
		if n < 2 {
			return Scenario{}, fmt.Errorf("small needs at least 2 members, got %d", n)
		}
		return Small(n), nil
	case "fluid":
		return Fluid(FluidParams{Lambda: 0.1, Mu: 1.0 / 600, C: 1.0 / 200, Gamma: 1.0 / 200}), nil
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q (want surge, large, small or fluid)", name)
}

func cmp(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Study runs the scenario for every tracker and seed, writes a table of
// means and spreads (± one standard deviation across seeds) to w and, with
// Out set, CSV files and charts.
func Study(cfg StudyConfig, w io.Writer) error {
	sc, err := ScenarioByName(cfg.Scenario, cfg.Peers)
	if err != nil {
		return err
	}
	sc.Tuning = cfg.Tuning
	runs := map[Tracker][]*Result{}
	for _, tr := range cfg.Trackers {
		for i := range cfg.Seeds {
			res, err := Run(sc, tr, cfg.Seed+uint64(i))
			if err != nil {
				return err
			}
			if res.Invariant != "" {
				return fmt.Errorf("simulate: %s seed %d broke the model: %s", tr, res.Seed, res.Invariant)
			}
			runs[tr] = append(runs[tr], res)
		}
	}
	fmt.Fprintf(w, "%s, seeds %d..%d (mean ± sd across seeds)\n", sc.Name, cfg.Seed, cfg.Seed+uint64(cfg.Seeds)-1)
	writeTable(w, cfg.Trackers, runs, metricsFor(cfg.Scenario))
	if cfg.Out == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if err := writeCSV(filepath.Join(cfg.Out, cfg.Scenario+"-runs.csv"), cfg.Trackers, runs, metricsFor(cfg.Scenario)); err != nil {
		return err
	}
	if err := writeDownloadsCSV(filepath.Join(cfg.Out, cfg.Scenario+"-downloads.csv"), cfg.Trackers, runs); err != nil {
		return err
	}
	return writeCharts(cfg.Out, cfg.Scenario, cfg.Trackers, runs)
}

// metric is one figure of a run.
type metric struct {
	name string
	of   func(*Result) float64
}

func metricsFor(scenario string) []metric {
	common := []metric{
		{"median download s", func(r *Result) float64 { return quantile(r.Download, 0.5) }},
		{"p95 download s", func(r *Result) float64 { return quantile(r.Download, 0.95) }},
		{"mean download s", func(r *Result) float64 { return mean(r.Download) }},
	}
	switch scenario {
	case "surge":
		ms := append(common,
			metric{"median first piece s", func(r *Result) float64 { return quantile(r.FirstPiece, 0.5) }},
			metric{"p95 first piece s", func(r *Result) float64 { return quantile(r.FirstPiece, 0.95) }},
			metric{"all done s", func(r *Result) float64 { return r.AllDone }},
			metric{"seeders' share of upload", func(r *Result) float64 { return sum(r.SeederShare) }},
			metric{"seeder fairness (Jain)", func(r *Result) float64 { return jain(r.SeederShare) }},
			metric{"max seeder idle s", func(r *Result) float64 { return maxOf(r.SeederIdle) }},
			metric{"peak announces/s", func(r *Result) float64 { return float64(r.PeakRate) }},
			metric{"longest interval s", func(r *Result) float64 { return r.MaxInterval }},
		)
		for i := range DefaultSurgeSeeders {
			ms = append(ms, metric{fmt.Sprintf("seeder %d share", i+1), func(r *Result) float64 {
				if i < len(r.SeederShare) {
					return r.SeederShare[i]
				}
				return math.NaN()
			}})
		}
		return ms
	case "large":
		return append(common,
			metric{"leechers", func(r *Result) float64 { return float64(r.Arrived) }},
			metric{"seeder-seeder share of handed peers", func(r *Result) float64 {
				return float64(r.SeederPairs) / math.Max(1, float64(r.Handed))
			}},
		)
	case "small":
		return append(common,
			metric{"all done s", func(r *Result) float64 { return r.AllDone }},
			metric{"share of pairs that met", func(r *Result) float64 { return r.MetShare }},
			metric{"runs where all met", func(r *Result) float64 {
				if r.MetShare >= 1 {
					return 1
				}
				return 0
			}},
		)
	}
	return common
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func maxOf(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func writeTable(w io.Writer, trackers []Tracker, runs map[Tracker][]*Result, ms []metric) {
	fmt.Fprintf(w, "| %s |", "metric")
	for _, tr := range trackers {
		fmt.Fprintf(w, " %s |", tr)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(trackers)))
	for _, m := range ms {
		fmt.Fprintf(w, "| %s |", m.name)
		for _, tr := range trackers {
			var xs []float64
			for _, r := range runs[tr] {
				xs = append(xs, m.of(r))
			}
			fmt.Fprintf(w, " %s ± %s |", num(mean(xs)), num(stddev(xs)))
		}
		fmt.Fprintln(w)
	}
}

func num(x float64) string {
	switch {
	case math.Abs(x) >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case math.Abs(x) >= 1:
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

func writeFile(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	cw := csv.NewWriter(f)
	_ = cw.WriteAll(rows)
	if err := cw.Error(); err != nil {
		_ = f.Close()
		return fmt.Errorf("simulate: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("simulate: write %s: %w", path, err)
	}
	return nil
}

// writeCSV writes one row per run with every metric.
func writeCSV(path string, trackers []Tracker, runs map[Tracker][]*Result, ms []metric) error {
	head := []string{"tracker", "seed"}
	for _, m := range ms {
		head = append(head, m.name)
	}
	rows := [][]string{head}
	for _, tr := range trackers {
		for _, r := range runs[tr] {
			row := []string{string(tr), strconv.FormatUint(r.Seed, 10)}
			for _, m := range ms {
				row = append(row, strconv.FormatFloat(m.of(r), 'g', 6, 64))
			}
			rows = append(rows, row)
		}
	}
	return writeFile(path, rows)
}

// writeDownloadsCSV writes every measured leecher's times.
func writeDownloadsCSV(path string, trackers []Tracker, runs map[Tracker][]*Result) error {
	rows := [][]string{{"tracker", "seed", "leecher", "download_s", "first_piece_s"}}
	for _, tr := range trackers {
		for _, r := range runs[tr] {
			for i, d := range r.Download {
				rows = append(rows, []string{string(tr), strconv.FormatUint(r.Seed, 10), strconv.Itoa(i),
					strconv.FormatFloat(d, 'f', 0, 64), strconv.FormatFloat(r.FirstPiece[i], 'f', 0, 64)})
			}
		}
	}
	return writeFile(path, rows)
}
