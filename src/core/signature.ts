/** What capture learned of one module's inputs and outputs: the contract every candidate must honour. */
export interface TensorSpec {
  name: string;
  /** onnxruntime tensor type, e.g. 'float32', 'int64'. */
  dtype: string;
  /** Sizes seen, with null on every dynamic axis. */
  shape: (number | null)[];
  /** Axes whose size is not fixed: the batch axis (0, when batching) and every axis whose size varied. */
  dynamicAxes: number[];
  /** Smallest, most frequent and largest shape seen (TensorRT's min/opt/max profile). */
  min: number[];
  opt: number[];
  max: number[];
}

export interface ModuleSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Whether axis 0 of every input and output is a batch axis. */
  batching: boolean;
  /** The module's own batch sizes (axis 0 of its inputs) and how many calls used each. */
  batchSizes: Record<string, number>;
  /** Calls recorded while the pipeline ran over the dataloader. */
  calls: number;
}
