// Command ext is a Lambda external extension for the worker's and end-to-end tests. It
// registers for INVOKE and SHUTDOWN, subscribes to platform and function telemetry, and prints
// what it receives to stdout (the function's log), each line starting "EXT ".
//
// Environment: EXT_SLEEP_MS makes it take that long over each INVOKE before it asks for the
// next event; EXT_INIT_ERROR makes it report an init error instead of registering for events.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const marker = "MARKER-FOR-EXT" // function log lines holding it are reported (without it)

var api = "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API")

func main() {
	name := filepath.Base(os.Args[0])
	req, _ := http.NewRequest("POST", api+"/2020-01-01/extension/register",
		strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	req.Header.Set("Lambda-Extension-Name", name)
	req.Header.Set("Lambda-Extension-Accept-Feature", "accountId")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("EXT register failed:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	fmt.Printf("EXT registered %s status %d id %s body %s\n", name, resp.StatusCode, id, bytes.TrimSpace(body))

	if os.Getenv("EXT_INIT_ERROR") != "" {
		req, _ := http.NewRequest("POST", api+"/2020-01-01/extension/init/error",
			strings.NewReader(`{"errorMessage":"cannot start","errorType":"Extension.Crash"}`))
		req.Header.Set("Lambda-Extension-Identifier", id)
		req.Header.Set("Lambda-Extension-Function-Error-Type", "Extension.Crash")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("EXT listen failed:", err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(telemetry))
	port := ln.Addr().(*net.TCPAddr).Port
	sub := fmt.Sprintf(`{"schemaVersion":"2022-12-13","types":["platform","function"],
		"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},
		"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:%d/telemetry"}}`, port)
	req, _ = http.NewRequest("PUT", api+"/2022-07-01/telemetry", strings.NewReader(sub))
	req.Header.Set("Lambda-Extension-Identifier", id)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		fmt.Println("EXT subscribe failed:", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("EXT subscribed status %d %s\n", resp.StatusCode, bytes.TrimSpace(b))
	}

	sleep, _ := strconv.Atoi(os.Getenv("EXT_SLEEP_MS"))
	for {
		req, _ := http.NewRequest("GET", api+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println("EXT next failed:", err)
			os.Exit(1)
		}
		var ev struct {
			EventType          string          `json:"eventType"`
			RequestID          string          `json:"requestId"`
			InvokedFunctionArn string          `json:"invokedFunctionArn"`
			DeadlineMs         int64           `json:"deadlineMs"`
			ShutdownReason     string          `json:"shutdownReason"`
			Tracing            json.RawMessage `json:"tracing"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		if err != nil {
			fmt.Println("EXT bad event:", err)
			os.Exit(1)
		}
		switch ev.EventType {
		case "INVOKE":
			fmt.Printf("EXT INVOKE %s %s deadline=%t event-id=%t\n", ev.RequestID, ev.InvokedFunctionArn,
				ev.DeadlineMs > time.Now().UnixMilli(), resp.Header.Get("Lambda-Extension-Event-Identifier") != "")
			if sleep > 0 {
				time.Sleep(time.Duration(sleep) * time.Millisecond)
				fmt.Printf("EXT done %s\n", ev.RequestID)
			}
		case "SHUTDOWN":
			fmt.Printf("EXT SHUTDOWN %s deadline=%t\n", ev.ShutdownReason, ev.DeadlineMs > time.Now().UnixMilli())
			os.Exit(0)
		default:
			fmt.Printf("EXT unknown event %q\n", ev.EventType)
		}
	}
}

// telemetry prints the platform events it is sent, and says when a function log line holding
// the marker arrives (without repeating the marker, which would loop).
func telemetry(w http.ResponseWriter, r *http.Request) {
	var events []struct {
		Time   string          `json:"time"`
		Type   string          `json:"type"`
		Record json.RawMessage `json:"record"`
	}
	if err := json.NewDecoder(r.Body).Decode(&events); err != nil {
		fmt.Println("EXT bad telemetry:", err)
		return
	}
	for _, ev := range events {
		switch {
		case ev.Type == "function":
			var line string
			json.Unmarshal(ev.Record, &line)
			if strings.Contains(line, marker) {
				fmt.Println("EXT telemetry function log seen")
			}
		case strings.HasPrefix(ev.Type, "platform."):
			var rec struct {
				RequestID string `json:"requestId"`
				Status    string `json:"status"`
			}
			json.Unmarshal(ev.Record, &rec)
			fmt.Printf("EXT telemetry %s %s %s\n", ev.Type, rec.RequestID, rec.Status)
		}
	}
}
