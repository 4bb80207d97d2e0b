import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/** An event receiver (SSF push or webhook): answers its n-th request (1-based) as `answer` says. */
export class Receiver extends HttpFake {
  private constructor(private readonly answer: (r: RecordedRequest, n: number) => FakeAnswer) {
    super();
  }

  /** Starts one on `port` (default: any free port). */
  static start(answer: (r: RecordedRequest, n: number) => FakeAnswer, port = 0): Promise<Receiver> {
    return new Receiver(answer).listen(port);
  }

  protected answerTo(r: RecordedRequest): FakeAnswer {
    return this.answer(r, this.requests.length);
  }
}
