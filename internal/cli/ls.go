package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/spf13/cobra"
)

func newListCommand(stdio IO, cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List functions",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, _, err := cf.lambdaClient(nil)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tRUNTIME\tMEMORY\tTIMEOUT\tLAST MODIFIED")
			pages := lambda.NewListFunctionsPaginator(client, &lambda.ListFunctionsInput{})
			for pages.HasMorePages() {
				page, err := pages.NextPage(commandContext(cmd))
				if err != nil {
					return fmt.Errorf("listing functions: %w", err)
				}
				for _, f := range page.Functions {
					fmt.Fprintf(tw, "%s\t%s\t%d MB\t%d s\t%s\n", aws.ToString(f.FunctionName), f.Runtime,
						aws.ToInt32(f.MemorySize), aws.ToInt32(f.Timeout), aws.ToString(f.LastModified))
				}
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newRemoveCommand(stdio IO, cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"delete"},
		Short:   "Delete functions",
		Long: `Delete each named function. Every name is tried, even after one fails; each
failure is reported, and the exit status is 1 if any failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, _, err := cf.lambdaClient(nil)
			if err != nil {
				return err
			}
			failed := 0
			for _, name := range args {
				if _, err := client.DeleteFunction(commandContext(cmd), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
					fmt.Fprintf(stdio.Err, "ember: deleting %s: %v\n", name, err)
					failed++
					continue
				}
				fmt.Fprintf(stdio.Err, "deleted %s\n", name)
			}
			if failed > 0 {
				if len(args) > 1 {
					fmt.Fprintf(stdio.Err, "ember: %d of %d functions not deleted\n", failed, len(args))
				}
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
