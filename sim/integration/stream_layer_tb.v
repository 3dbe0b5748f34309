// Integration example: a stream unit fed a whole network layer from a memory, as an accelerator would.
//
// The beats of every dot product of the layer (one output value each) sit in a memory (beats.hex, one
// s_axis_tdata word per line; last.hex marks each dot product's last beat). A source walks the memory
// and offers beats on s_axis, holding back a beat now and then; a sink takes the results off m_axis,
// not ready now and then, and stores them in order. At the end the results are written to results.hex
// for the caller (ristretto.sim.integration) to compare with the network's exact mode.
//
// Parameters: N beats, R results, TDATA and ODATA the stream widths, P_IN and P_OUT the stall
// probabilities in percent, SEED. The unit's module name comes in as the macro UNIT; its reset is
// synchronous or asynchronous, active high (macro RESET_HIGH defined) or low.
`timescale 1ns/1ps
module stream_layer_tb;
  parameter N = 1, R = 1, TDATA = 8, ODATA = 8, P_IN = 20, P_OUT = 40, SEED = 1;
  reg clk = 0, rst = 1;
  always #5 clk = ~clk;

  reg [TDATA-1:0] beats [0:N-1];
  reg last_mem [0:N-1];
  reg [ODATA-1:0] results [0:R-1];
  integer seed = SEED, next = 0, got = 0, cycles = 0;

  reg s_valid = 0, s_last = 0, m_ready = 0;
  reg [TDATA-1:0] s_data = 0;
  wire s_ready, m_valid;
  wire [ODATA-1:0] m_data;

`ifdef RESET_HIGH
  `UNIT dut(.clk(clk), .rst(rst),
`else
  `UNIT dut(.clk(clk), .rst_n(~rst),
`endif
            .s_axis_tvalid(s_valid), .s_axis_tlast(s_last), .s_axis_tdata(s_data), .m_axis_tready(m_ready),
            .s_axis_tready(s_ready), .m_axis_tvalid(m_valid), .m_axis_tdata(m_data));

  // AXI4-Stream rules on the source side: once offered, a beat stays (data and last) until taken
  always @(posedge clk) begin
    if (rst) begin
      s_valid <= 0;
    end else begin
      if (m_valid && m_ready) begin
        results[got] <= m_data;
        got <= got + 1;
      end
      m_ready <= ($urandom(seed) % 100) >= P_OUT;
      if (s_valid && s_ready) next <= next + 1;
      if (!s_valid || s_ready) begin
        if ((s_valid && s_ready ? next + 1 : next) < N && ($urandom(seed) % 100) >= P_IN) begin
          s_valid <= 1;
          s_data <= beats[s_valid && s_ready ? next + 1 : next];
          s_last <= last_mem[s_valid && s_ready ? next + 1 : next];
        end else begin
          s_valid <= 0;
        end
      end
      cycles <= cycles + 1;
    end
  end

  reg [8*512-1:0] beats_file, last_file, results_file;
  initial begin
    if (!$value$plusargs("beats=%s", beats_file) || !$value$plusargs("last=%s", last_file)
        || !$value$plusargs("results=%s", results_file)) begin
      $display("stream_layer_tb: needs +beats=, +last= and +results=");
      $finish;
    end
    $readmemh(beats_file, beats);
    $readmemb(last_file, last_mem);
    repeat (3) @(posedge clk);
    rst <= 0;
    wait (got == R);
    repeat (20) @(posedge clk);  // no result beyond the last
    if (m_valid) $display("stream_layer_tb: EXTRA result after the last one");
    $writememh(results_file, results);
    $display("stream_layer_tb: %0d beats, %0d results in %0d cycles", N, R, cycles);
    $finish;
  end

  initial begin
    #(100 * (N + 100) * 10);
    $display("stream_layer_tb: TIMEOUT with %0d of %0d results", got, R);
    $finish;
  end
endmodule
