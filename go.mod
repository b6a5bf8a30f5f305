module johnlocke

go 1.26

require (
	github.com/BurntSushi/toml v1.5.0
	github.com/jackpal/bencode-go v1.0.2
	github.com/mattn/go-isatty v0.0.19
	github.com/rs/zerolog v1.34.0
	github.com/urfave/cli/v2 v2.27.7
	go.etcd.io/bbolt v1.4.3
	golang.org/x/sys v0.29.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/mattn/go-colorable v0.1.13 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
