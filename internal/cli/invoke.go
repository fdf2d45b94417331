package cli

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/spf13/cobra"
)

func newInvokeCommand(stdio IO, cf *clientFlags) *cobra.Command {
	var tail bool
	var qualifier string
	cmd := &cobra.Command{
		Use:   "invoke NAME [PAYLOAD]",
		Short: "Invoke a function synchronously and print its response",
		Long: `Invoke a function synchronously (RequestResponse) and print the response payload.
PAYLOAD is JSON; "-" reads it from standard input; none sends {}.
With --tail the last 4 KB of the invocation's log is printed to standard error.
The exit status is 1 when the function returned an error (X-Amz-Function-Error).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload := []byte("{}")
			if len(args) == 2 {
				payload = []byte(args[1])
				if args[1] == "-" {
					b, err := io.ReadAll(stdio.In)
					if err != nil {
						return fmt.Errorf("reading payload: %w", err)
					}
					payload = b
				}
			}
			client, _, err := cf.lambdaClient(nil)
			if err != nil {
				return err
			}
			in := &lambda.InvokeInput{
				FunctionName:   aws.String(args[0]),
				InvocationType: types.InvocationTypeRequestResponse,
				Payload:        payload,
			}
			if qualifier != "" {
				in.Qualifier = aws.String(qualifier)
			}
			if tail {
				in.LogType = types.LogTypeTail
			}
			out, err := client.Invoke(commandContext(cmd), in)
			if err != nil {
				return fmt.Errorf("invoking %s: %w", args[0], err)
			}
			if tail && out.LogResult != nil {
				logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
				if err != nil {
					return fmt.Errorf("decoding the log tail: %w", err)
				}
				fmt.Fprint(stdio.Err, string(logs))
				if len(logs) > 0 && !strings.HasSuffix(string(logs), "\n") {
					fmt.Fprintln(stdio.Err)
				}
			}
			stdio.Out.Write(out.Payload)
			if len(out.Payload) > 0 && out.Payload[len(out.Payload)-1] != '\n' {
				fmt.Fprintln(stdio.Out)
			}
			if out.FunctionError != nil {
				fmt.Fprintf(stdio.Err, "ember: %s returned an error (%s)\n", args[0], aws.ToString(out.FunctionError))
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&tail, "tail", false, "print the last 4 KB of the invocation's log to standard error")
	cmd.Flags().StringVar(&qualifier, "qualifier", "", "version or alias to invoke")
	cf.register(cmd)
	return cmd
}
