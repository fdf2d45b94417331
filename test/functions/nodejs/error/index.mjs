// error throws an error of its own class.
class OrderNotFound extends Error {
  constructor(message) {
    super(message);
    this.name = 'OrderNotFound';
  }
}

export const handler = async (event) => {
  throw new OrderNotFound(`no order ${event.order}`);
};
