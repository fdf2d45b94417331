package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/spf13/cobra"
)

func newLogsCommand(stdio IO, cf *clientFlags) *cobra.Command {
	var follow bool
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a function's logs (from /aws/lambda/NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := cf.resolve()
			if err != nil {
				return err
			}
			t := logTailer{client: cc.Logs(), group: "/aws/lambda/" + args[0], print: func(msg string) {
				fmt.Fprintln(stdio.Out, strings.TrimRight(msg, "\n"))
			}}
			start := time.Now().Add(-since)
			return t.run(commandContext(cmd), start, follow)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().DurationVar(&since, "since", time.Hour, "how far back to start")
	cf.register(cmd)
	return cmd
}

// logTailer prints a log group's events through FilterLogEvents, polling when following.
type logTailer struct {
	client *cloudwatchlogs.Client
	group  string
	print  func(string)
}

func (t logTailer) run(ctx context.Context, start time.Time, follow bool) error {
	from := start.UnixMilli()
	seen := map[string]bool{} // event ids printed at the newest timestamp
	for {
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(t.group), StartTime: aws.Int64(from)}
		pages := cloudwatchlogs.NewFilterLogEventsPaginator(t.client, in)
		newest, newSeen := from, map[string]bool{}
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				if ctx.Err() != nil && follow {
					return nil
				}
				return fmt.Errorf("reading %s: %w", t.group, err)
			}
			for _, ev := range page.Events {
				id, ts := aws.ToString(ev.EventId), aws.ToInt64(ev.Timestamp)
				if seen[id] {
					continue
				}
				t.print(aws.ToString(ev.Message))
				if ts > newest {
					newest, newSeen = ts, map[string]bool{}
				}
				if ts == newest {
					newSeen[id] = true
				}
			}
		}
		if !follow {
			return nil
		}
		if newest > from {
			from, seen = newest, newSeen
		} else {
			for id := range newSeen {
				seen[id] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}
