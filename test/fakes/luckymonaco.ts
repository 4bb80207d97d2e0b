import { HttpFake, type FakeAnswer } from "./http-fake.js";

/** Seed 000's successful answer, as the fake gives it unless told otherwise. */
export const SUCCESS: FakeAnswer = { body: { error: 0, description: "Success" } };

/**
 * A LuckyMonaco casino API on 127.0.0.1, port 0: `POST /V4/CloseSession` answered as the test
 * programs it (once, or from now on), every request and connection recorded.
 */
export class FakeLuckyMonaco extends HttpFake {
  private readonly queue: FakeAnswer[] = [];
  private standing: FakeAnswer = SUCCESS;

  private constructor() {
    super();
  }

  static start(): Promise<FakeLuckyMonaco> {
    return new FakeLuckyMonaco().listen();
  }

  /** The next answers, one per request, before the standing one resumes. */
  answerOnce(...answers: FakeAnswer[]): void {
    this.queue.push(...answers);
  }

  /** The answer to every request from now on (after those queued). */
  answerAlways(answer: FakeAnswer): void {
    this.standing = answer;
  }

  /** Forgets requests, connections and programmed answers; the standing answer is success again. */
  reset(): void {
    this.forget();
    this.queue.length = 0;
    this.standing = SUCCESS;
  }

  protected answerTo(): FakeAnswer {
    return this.queue.shift() ?? this.standing;
  }
}
