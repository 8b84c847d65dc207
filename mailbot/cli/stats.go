package cli

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"mailbot/mailbot/remind"
	"mailbot/store"
)

func init() {
	register(command{"stats", "--config F [--json]", "for each policy commitment: met, breached, median and 90th percentile time", cmdStats})
}

// CommitmentStats is one row of `mailbot stats --json`: the numbers a team
// would publish to show it keeps its policy.
type CommitmentStats struct {
	Name     string  `json:"name"`
	Title    string  `json:"title"`
	Promised string  `json:"promised"` // the policy's duration, "3bd"
	Met      int     `json:"met"`
	Breached int     `json:"breached"`
	Running  int     `json:"running"`
	Paused   int     `json:"paused"`
	MetRate  float64 `json:"met_rate"`     // met / (met + breached), 0..1
	Median   float64 `json:"median_hours"` // time from start to stop, stopped clocks
	P90      float64 `json:"p90_hours"`
}

// StatsView is `mailbot stats --json`.
type StatsView struct {
	Cases       int               `json:"cases"`
	Open        int               `json:"open"`
	Commitments []CommitmentStats `json:"commitments"`
}

func cmdStats(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "stats")
	cfgPath := fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var v StatsView
	if code := query(ctx, env, "stats", *cfgPath, nil, &v); code != ExitOK {
		return code
	}
	if *asJSON {
		return writeJSON(env.Stdout, v)
	}
	fmt.Fprintf(env.Stdout, "%d cases, %d open\n", v.Cases, v.Open)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMITMENT\tPROMISED\tMET\tBREACHED\tRUNNING\tMET%\tMEDIAN\tP90")
	for _, c := range v.Commitments {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f%%\t%.1fh\t%.1fh\n", c.Name, c.Promised, c.Met, c.Breached, c.Running+c.Paused, 100*c.MetRate, c.Median, c.P90)
	}
	tw.Flush()
	return ExitOK
}

// queryStats computes the statistics from every case's clocks, refreshed
// against now so an unnoticed breach counts.
func queryStats(s *setup, tx *store.Tx, _ []string) (any, error) {
	now := time.Now()
	v := StatsView{Commitments: []CommitmentStats{}}
	rows := map[string]*CommitmentStats{}
	took := map[string][]float64{}
	if s.policy != nil {
		for _, cm := range s.policy.Commitments {
			title := cm.Title["en"]
			if title == "" {
				title = cm.Title[s.policy.DefaultLanguage()]
			}
			v.Commitments = append(v.Commitments, CommitmentStats{Name: cm.Name, Title: title, Promised: cm.Within})
		}
	}
	for i := range v.Commitments {
		rows[v.Commitments[i].Name] = &v.Commitments[i]
	}
	err := tx.Cases(func(c *store.Case) bool {
		v.Cases++
		if remind.Open(c.Status) {
			v.Open++
		}
		for _, cl := range refreshClocks(s.policy, c.Clocks, now) {
			r := rows[cl.Name]
			if r == nil {
				continue
			}
			switch cl.State {
			case "met":
				r.Met++
			case "breached":
				r.Breached++
			case "running":
				r.Running++
			case "paused":
				r.Paused++
			}
			if !cl.Stopped.IsZero() {
				took[cl.Name] = append(took[cl.Name], cl.Stopped.Sub(cl.Started).Hours())
			}
		}
		return true
	})
	for i := range v.Commitments {
		r := &v.Commitments[i]
		if r.Met+r.Breached > 0 {
			r.MetRate = float64(r.Met) / float64(r.Met+r.Breached)
		}
		r.Median, r.P90 = percentile(took[r.Name], 0.5), percentile(took[r.Name], 0.9)
	}
	return v, err
}

// percentile is the nearest-rank percentile of xs, 0 for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	i := int(p*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
