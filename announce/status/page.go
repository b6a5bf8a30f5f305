package status

import (
	"embed"
	"html/template"
	"io/fs"
	"johnlocke/store/report"
	"net/http"
)

// assets are the page's script, style and the vendored uPlot chart
// library (assets/uPlot.LICENSE), served from the binary: a tracker may
// have no internet, and the page loads nothing from another host.
//
//go:embed assets
var assets embed.FS

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{"sumOrigins": sumOrigins, "nodesSeen": report.NodesSeen}).Parse(pageHTML))

// sumOrigins totals a mode's torrents over their origins.
func sumOrigins(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func assetsFS() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return sub
}

// servePage renders the page with its tables filled in, so that it says
// something without JavaScript; the script then refreshes it and draws
// the charts.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Nothing but this host: a defence in depth for a page that shows
	// names taken from .torrent files.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	if err := page.Execute(w, s.stats()); err != nil {
		s.log.Debug().Err(err).Msg("status: writing the page")
	}
}
