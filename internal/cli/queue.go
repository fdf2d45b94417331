package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"

	"github.com/ember-serverless/ember/internal/api"
)

func newQueueCommand(stdio IO, cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue NAME",
		Short: "Show a function's asynchronous invocation queue: depth, oldest event and totals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc, err := cf.resolve()
			if err != nil {
				return err
			}
			ctx := commandContext(cmd)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, cc.Endpoint+api.QueuePath+url.PathEscape(args[0])+"/async-queue", nil)
			if err != nil {
				return err
			}
			empty := sha256.Sum256(nil)
			if err := v4.NewSigner().SignHTTP(ctx, cc.Credentials, req, hex.EncodeToString(empty[:]), "lambda", cc.Region, time.Now()); err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("reading the queue of %s: %w", args[0], err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				var e struct{ Message string }
				_ = json.Unmarshal(body, &e)
				return fmt.Errorf("reading the queue of %s: %s: %s", args[0], resp.Status, e.Message)
			}
			var q api.AsyncQueue
			if err := json.Unmarshal(body, &q); err != nil {
				return fmt.Errorf("reading the queue of %s: %w", args[0], err)
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "FUNCTION\t%s\n", q.FunctionName)
			fmt.Fprintf(tw, "QUEUED\t%d\n", q.QueueDepth)
			fmt.Fprintf(tw, "OLDEST\t%s\n", (time.Duration(q.OldestEventAgeSeconds * float64(time.Second))).Round(time.Millisecond))
			fmt.Fprintf(tw, "RECEIVED\t%d\n", q.EventsReceived)
			fmt.Fprintf(tw, "SUCCEEDED\t%d\n", q.EventsSucceeded)
			fmt.Fprintf(tw, "FUNCTION ERRORS\t%d\n", q.FunctionErrors)
			fmt.Fprintf(tw, "RETRIES\t%d\n", q.Retries)
			fmt.Fprintf(tw, "DROPPED\t%d\n", q.EventsDropped)
			fmt.Fprintf(tw, "FAILED\t%d\n", q.EventsFailed)
			fmt.Fprintf(tw, "TO DESTINATIONS\t%d\n", q.DestinationDeliveries)
			fmt.Fprintf(tw, "TO DEAD LETTERS\t%d\n", q.DeadLetters)
			fmt.Fprintf(tw, "DUPLICATES\t%d\n", q.Duplicates)
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}
