package control

import "encoding/json"

func decodeRecord(data []byte, rev uint64) (*Function, error) {
	var f Function
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	f.revision = rev
	return &f, nil
}
